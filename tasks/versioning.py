"""Dataset publishing under data/ and versioning with DVC."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import yaml
from prefect import task
from prefect.logging import get_run_logger

from components.artifacts import ArtifactRef, ArtifactStore
from flows.settings import project_home

DVC_CONFIG = {"core": {"analytics": "false", "check_update": "false"}}


def ensure_dvc_repo(home: Path) -> None:
    """Initialise DVC in `home` if needed (without git when `home` is not a git repository)."""
    from dvc.repo import Repo

    if not (home / ".dvc").exists():
        Repo.init(str(home), no_scm=not (home / ".git").exists())
    with Repo(str(home)).config.edit() as config:
        for section, values in DVC_CONFIG.items():
            config.setdefault(section, {}).update(values)


def publish_dataset(home: Path, name: str, files: dict[str, Path], manifest: dict) -> Path:
    """Replace data/<name>/ by `files` so that no reader sees a half-written folder.

    The new folder is written beside the old one, then swapped in with two
    renames; the old version is removed only after the new one is in place.
    """
    data = home / "data"
    data.mkdir(exist_ok=True)
    target = data / name
    staging = Path(tempfile.mkdtemp(dir=data, prefix=f".{name}.staging-"))
    staging.chmod(0o755)  # mkdtemp creates 0700; the published folder is readable like any dataset
    try:
        for file_name, source in files.items():
            shutil.copyfile(source, staging / file_name)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        previous = data / f".{name}.previous"
        if previous.exists():
            shutil.rmtree(previous)
        if target.exists():
            target.rename(previous)
        staging.rename(target)
        if previous.exists():
            shutil.rmtree(previous)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def read_dvc_hash(home: Path) -> str:
    """Return the md5 that data.dvc records for data/."""
    meta = yaml.safe_load((home / "data.dvc").read_text(encoding="utf-8"))
    return str(meta["outs"][0]["md5"])


@task(name="version", retries=2, retry_delay_seconds=5)
def version_task(name: str, refs: dict[str, ArtifactRef], manifest: dict) -> dict[str, str]:
    """Publish stage outputs as data/<name>/<key><suffix>, run `dvc add data` and push when a remote exists.

    Each file keeps the suffix of its stored artifact (.jsonl, .json, .parquet, ...).
    """
    from dvc.repo import Repo

    logger = get_run_logger()
    home = project_home()
    store = ArtifactStore(home)
    names = {key: f"{key}{Path(ref.path).suffix}" for key, ref in refs.items()}
    files = {names[key]: store.resolve(ref) for key, ref in refs.items()}
    manifest = {**manifest, "files": {names[key]: {"sha256": ref.sha256, "records": ref.count} for key, ref in refs.items()}}
    target = publish_dataset(home, name, files, manifest)

    ensure_dvc_repo(home)
    repo = Repo(str(home))
    try:
        repo.add(str(home / "data"))
        data_hash = read_dvc_hash(home)
        logger.info("data/ versioned by DVC: md5 %s", data_hash)
        if repo.config.get("core", {}).get("remote"):
            repo.push(targets=[str(home / "data.dvc")])
            logger.info("pushed data/ to DVC remote %s", repo.config["core"]["remote"])
    finally:
        repo.close()
    return {"dvc_md5": data_hash, "path": str(target)}
