"""The review web service: server-rendered pages for reviewers and a JSON API.

Sign-in: a reviewer pastes their token once (`reprolab review add-reviewer`
prints it); the server opens a session whose id travels in an HttpOnly,
SameSite=Strict cookie. API clients send `Authorization: Bearer <token>`
instead. Every state-changing request made with a session cookie must carry the
session's CSRF token (a hidden form field, or the X-CSRF-Token header for the
autosave calls); the sign-in form uses a double-submit cookie. Requests whose
Origin header names another site are refused.

All text is escaped by Jinja2's autoescaping; the pages run no inline script,
and a Content-Security-Policy allows scripts, styles and fonts from this
server only. Level checks are made server-side in components.review.service.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import tempfile
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import jinja2
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from components.errors import InputError
from components.proofs.schema import ErrorType, Triplet
from components.review.database import StoreTarget, StoreUnavailable, parse_target
from components.review.service import (
    MAX_COMMENT_CHARS,
    AccessDenied,
    ItemView,
    NotFound,
    NotOpen,
    Reviewer,
    ReviewService,
    csrf_token_for,
)

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "reprolab_session"
LOGIN_CSRF_COOKIE = "reprolab_login_csrf"
MAX_BODY_BYTES = 256 * 1024
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
ERROR_TYPES = [member.value for member in ErrorType]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass(frozen=True)
class Auth:
    reviewer: Reviewer
    via: str  # "session" or "bearer"
    session: str | None = None

    @property
    def csrf(self) -> str:
        return csrf_token_for(self.session) if self.session else ""


class LabelIn(BaseModel):
    """A label submitted through the JSON API."""

    model_config = ConfigDict(extra="forbid")

    verdict: str
    error_steps: list[int] = Field(default_factory=list, max_length=1000)
    error_type: str | None = None
    comment: str = Field("", max_length=MAX_COMMENT_CHARS)
    seconds_spent: float | None = Field(None, ge=0, le=1e7)
    # Printable ASCII without spaces, as a UUID or any client-made id is.
    request_id: str | None = Field(None, min_length=8, max_length=100, pattern=r"^[\x21-\x7e]+$")


class DraftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    draft: dict[str, Any]
    seconds: float = Field(0.0, ge=0, le=1e7)


def create_app(store_path: str | Path | StoreTarget, *, secure_cookies: bool = False) -> FastAPI:
    """Build the app over the review store at `store_path`, a path or URL (created and migrated if needed)."""
    store_path = parse_target(store_path)
    state: dict[str, ReviewService] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        state["service"] = ReviewService(store_path)
        logger.info("review service on store %s", store_path)
        try:
            yield
        finally:
            state.pop("service").close()

    app = FastAPI(title="reprolab review", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )

    def service() -> ReviewService:
        return state["service"]

    # -- middleware -----------------------------------------------------------------

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return JSONResponse({"error": "request body too large"}, status_code=413)
        if request.method in UNSAFE_METHODS:
            origin = request.headers.get("origin")
            if origin is not None and origin != _own_origin(request):
                return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    # -- helpers ----------------------------------------------------------------------

    def render(name: str, request: Request, auth: Auth | None, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(
            reviewer=auth.reviewer if auth else None,
            csrf=auth.csrf if auth else "",
            path=request.url.path,
            **context,
        )
        return HTMLResponse(html, status_code=status_code)

    def authenticate(request: Request) -> Auth | None:
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer":
                return None
            reviewer = service().authenticate_token(token.strip())
            return None if reviewer is None else Auth(reviewer, "bearer")
        session = request.cookies.get(SESSION_COOKIE)
        reviewer = service().session_reviewer(session)
        return None if reviewer is None else Auth(reviewer, "session", session)

    async def auth_for(request: Request) -> Auth | None:
        return await run_in_threadpool(authenticate, request)

    def require_api(auth: Auth | None) -> Auth:
        if auth is None:
            raise HTTPException(status_code=401, detail="sign in, or send Authorization: Bearer <token>",
                                headers={"WWW-Authenticate": "Bearer"})
        return auth

    def check_csrf(auth: Auth, supplied: str | None) -> None:
        """Cookie-authenticated writes must carry the session's CSRF token; bearer requests need none."""
        if auth.via != "session":
            return
        if not supplied or not hmac.compare_digest(supplied, auth.csrf):
            raise HTTPException(status_code=403, detail="missing or invalid CSRF token")

    def require_level2(auth: Auth) -> None:
        if auth.reviewer.level != 2:
            raise HTTPException(status_code=403, detail="level-2 reviewers only")

    def to_login(request: Request) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    # -- errors -----------------------------------------------------------------------

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if _wants_json(request):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        try:
            auth = await auth_for(request)
        except StoreUnavailable:
            auth = None  # the error page still renders, without the reviewer's name
        return render("message.html", request, auth, status_code=exc.status_code,
                      title=f"Error {exc.status_code}", message=str(exc.detail))

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(request: Request, exc: StoreUnavailable):
        # One line per failed request, no traceback: the database is down or busy, not the app broken.
        logger.error("%s %s failed: %s", request.method, request.url.path, exc)
        message = "the review store is unavailable; try again in a moment"
        headers = {"Retry-After": "5"}
        if _wants_json(request):
            return JSONResponse({"error": message}, status_code=503, headers=headers)
        response = render("message.html", request, None, status_code=503, title="Error 503", message=message)
        response.headers.update(headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        # FastAPI's default response echoes the whole input back, so return the fields and errors only.
        details = [{"field": ".".join(str(part) for part in error["loc"]), "error": error["msg"]}
                   for error in exc.errors()[:20]]
        return JSONResponse({"error": "invalid request", "details": details}, status_code=422)

    # -- health and sign-in --------------------------------------------------------------

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/queue"):
        token = secrets.token_urlsafe(32)
        response = render("login.html", request, None, login_csrf=token, next=_safe_next(next), error=None)
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=secure_cookies, path="/login")
        return response

    @app.post("/login")
    async def login(request: Request):
        form = await read_form(request)
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        supplied = first(form, "csrf_token")
        if not cookie or not hmac.compare_digest(supplied, cookie):
            raise HTTPException(status_code=403, detail="missing or invalid CSRF token; reload the sign-in page")
        reviewer = await run_in_threadpool(service().authenticate_token, first(form, "token").strip())
        next_url = _safe_next(first(form, "next") or "/queue")
        if reviewer is None:
            token = secrets.token_urlsafe(32)
            response = render("login.html", request, None, status_code=401, login_csrf=token, next=next_url,
                              error="That token is not valid.")
            response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                                secure=secure_cookies, path="/login")
            return response
        session = await run_in_threadpool(service().create_session, reviewer.reviewer_id)
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict",
                            secure=secure_cookies, path="/")
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    @app.post("/logout")
    async def logout(request: Request):
        auth = await auth_for(request)
        if auth is None:
            return to_login(request)
        form = await read_form(request)
        check_csrf(auth, first(form, "csrf_token"))
        if auth.session:
            await run_in_threadpool(service().end_session, auth.session)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- pages ------------------------------------------------------------------------------

    @app.get("/")
    def root():
        return RedirectResponse("/queue", status_code=303)

    @app.get("/queue", response_class=HTMLResponse)
    def queue_page(request: Request, done: str | None = None):
        auth = authenticate(request)
        if auth is None:
            return to_login(request)
        summary = service().queue_summary(auth.reviewer)
        escalated = service().escalated_items(auth.reviewer) if auth.reviewer.level == 2 else []
        return render("queue.html", request, auth, summary=summary, escalated=escalated,
                      done=done if done in ("pending", "escalated", "final") else None)

    @app.get("/next")
    def next_page(request: Request, done: str | None = None):
        auth = authenticate(request)
        if auth is None:
            return to_login(request)
        triplet_id = service().claim_next(auth.reviewer)
        if triplet_id is None:
            suffix = f"?done={quote(done)}" if done else ""
            return RedirectResponse(f"/queue{suffix}", status_code=303)
        suffix = f"?done={quote(done)}" if done else ""
        return RedirectResponse(f"/items/{quote(triplet_id, safe='')}{suffix}", status_code=303)

    @app.get("/items/{triplet_id}", response_class=HTMLResponse)
    def item_page(request: Request, triplet_id: str, done: str | None = None):
        auth = authenticate(request)
        if auth is None:
            return to_login(request)
        view = open_or_raise(auth.reviewer, triplet_id)
        return render_item(request, auth, view, done=done)

    def open_or_raise(reviewer: Reviewer, triplet_id: str) -> ItemView:
        try:
            return service().open_item(reviewer, triplet_id)
        except NotFound:
            raise HTTPException(status_code=404, detail="no such item") from None
        except NotOpen as exc:
            raise HTTPException(status_code=409, detail=f"{exc}; take the next item from the queue") from None

    def render_item(request: Request, auth: Auth, view: ItemView, *, done: str | None = None,
                    error: str | None = None, status_code: int = 200) -> HTMLResponse:
        draft = view.draft
        return render(
            "item.html", request, auth, status_code=status_code,
            item=view, triplet=view.triplet, draft=draft,
            marked=set(draft.get("error_steps", [])),
            error_types=ERROR_TYPES, request_id=uuid.uuid4().hex,
            seconds=round(view.draft_seconds, 1), error=error,
            done=done if done in ("pending", "escalated", "final") else None,
        )

    @app.post("/items/{triplet_id}/label")
    async def submit_form(request: Request, triplet_id: str):
        auth = await auth_for(request)
        if auth is None:
            return to_login(request)
        form = await read_form(request)
        check_csrf(auth, first(form, "csrf_token"))
        verdict = first(form, "verdict")
        error_type = first(form, "error_type") or None
        comment = first(form, "comment")
        request_id = first(form, "request_id") or None
        try:
            steps = [int(value) for value in form.get("error_steps", [])]
            seconds = float(first(form, "seconds")) if first(form, "seconds") else None
        except ValueError:
            raise HTTPException(status_code=400, detail="error steps and seconds must be numbers") from None
        draft = {"verdict": verdict, "error_steps": steps, "error_type": error_type or "", "comment": comment}

        def work() -> Response:
            try:
                label = submit_label(auth.reviewer, triplet_id, verdict, steps, error_type, comment, seconds, request_id)
            except InputError as exc:
                view = open_or_raise(auth.reviewer, triplet_id)
                view.draft = draft
                return render_item(request, auth, view, error=str(exc), status_code=400)
            return RedirectResponse(f"/next?done={label['status']}", status_code=303)

        return await run_in_threadpool(work)

    def submit_label(reviewer: Reviewer, triplet_id: str, verdict: str, steps: list[int], error_type: str | None,
                     comment: str, seconds: float | None, request_id: str | None) -> dict[str, Any]:
        """Check the item is open to the reviewer, then record the label; map refusals to HTTP errors."""
        if request_id is None:
            open_or_raise(reviewer, triplet_id)
        spent = service().seconds_for(reviewer, triplet_id, seconds)
        try:
            result = service().submit_label(triplet_id, reviewer.reviewer_id, verdict, steps, error_type,
                                            comment, spent, request_id=request_id)
        except InputError as exc:
            if exc.field in ("triplet_id", "reviewer_id", "request_id"):
                if "not found" in str(exc) and exc.field == "triplet_id":
                    raise HTTPException(status_code=404, detail="no such item") from None
                raise HTTPException(status_code=409, detail=str(exc)) from None
            raise
        return {"status": result.status, "label_id": result.label_id, "replayed": result.replayed}

    @app.get("/l2", response_class=HTMLResponse)
    def level2_page(request: Request):
        auth = authenticate(request)
        if auth is None:
            return to_login(request)
        require_level2(auth)
        return render("escalated.html", request, auth, items=service().escalated_items(auth.reviewer))

    @app.get("/stats", response_class=HTMLResponse)
    def stats_page(request: Request):
        auth = authenticate(request)
        if auth is None:
            return to_login(request)
        require_level2(auth)
        return render("stats.html", request, auth, stats=service().stats())

    @app.get("/export")
    def export(request: Request, format: str = "jsonl"):
        auth = authenticate(request)
        if auth is None:
            return to_login(request) if not _wants_json(request) else require_api(None)
        require_level2(auth)
        if format not in ("jsonl", "parquet"):
            raise HTTPException(status_code=400, detail="format must be jsonl or parquet")
        with tempfile.TemporaryDirectory(prefix="reprolab-export-") as folder:
            path = Path(folder) / f"review-export.{format}"
            service().export(path, format=format)
            body = path.read_bytes()
        media = "application/x-ndjson" if format == "jsonl" else "application/vnd.apache.parquet"
        return Response(body, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="review-export.{format}"'})

    # -- JSON API ------------------------------------------------------------------------------

    @app.get("/api/me")
    def api_me(request: Request):
        auth = require_api(authenticate(request))
        return {"reviewer_id": auth.reviewer.reviewer_id, "name": auth.reviewer.name, "level": auth.reviewer.level}

    @app.get("/api/next")
    def api_next(request: Request):
        auth = require_api(authenticate(request))
        triplet_id = service().claim_next(auth.reviewer)
        if triplet_id is None:
            return {"item": None}
        try:
            view = service().open_item(auth.reviewer, triplet_id)
        except (NotFound, NotOpen):
            return {"item": None}
        return {"item": item_json(view)}

    @app.get("/api/items/{triplet_id}")
    def api_item(request: Request, triplet_id: str):
        auth = require_api(authenticate(request))
        return {"item": item_json(open_or_raise(auth.reviewer, triplet_id))}

    @app.post("/api/items/{triplet_id}/labels")
    def api_label(request: Request, triplet_id: str, body: LabelIn):
        auth = require_api(authenticate(request))
        check_csrf(auth, request.headers.get("x-csrf-token"))
        try:
            result = submit_label(auth.reviewer, triplet_id, body.verdict, body.error_steps, body.error_type,
                                  body.comment, body.seconds_spent, body.request_id)
        except InputError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        return JSONResponse(result, status_code=200 if result["replayed"] else 201)

    @app.put("/api/drafts/{triplet_id}")
    def api_draft(request: Request, triplet_id: str, body: DraftIn):
        auth = require_api(authenticate(request))
        check_csrf(auth, request.headers.get("x-csrf-token"))
        try:
            service().save_draft(auth.reviewer, triplet_id, body.draft, body.seconds)
        except NotFound:
            raise HTTPException(status_code=404, detail="no such item") from None
        except NotOpen as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        except InputError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        return {"saved": True}

    @app.get("/api/stats")
    def api_stats(request: Request):
        auth = require_api(authenticate(request))
        require_level2(auth)
        return JSONResponse(json.loads(json.dumps(service().stats(), default=str)))

    @app.get("/api/l2/escalated")
    def api_escalated(request: Request):
        auth = require_api(authenticate(request))
        require_level2(auth)
        return {"items": service().escalated_items(auth.reviewer)}

    @app.get("/api/l2/items/{triplet_id}/history")
    def api_history(request: Request, triplet_id: str):
        auth = require_api(authenticate(request))
        try:
            events = service().item_history(auth.reviewer, triplet_id)
        except AccessDenied as exc:
            raise HTTPException(status_code=403, detail=str(exc)) from None
        except NotFound:
            raise HTTPException(status_code=404, detail="no such item") from None
        return {"labels": [event.model_dump(mode="json") for event in events]}

    return app


def item_json(view: ItemView) -> dict[str, Any]:
    """An item as the API serves it: what the item page shows, with history for level 2 only."""
    triplet: Triplet = view.triplet
    check = triplet.check
    return {
        "triplet_id": triplet.triplet_id,
        "problem_id": triplet.problem_id,
        "question": triplet.question,
        "steps": triplet.steps,
        "status": view.status,
        "precheck": None if check is None else {
            "verdict": check.verdict, "flagged_steps": check.flagged_steps, "rationale": check.rationale,
        },
        "claimed": {
            "label": triplet.label,
            "error_type": triplet.error_type.value if triplet.error_type else None,
            "error_steps": triplet.error_steps,
            "method": triplet.method.value,
        },
        "draft": view.draft,
        "draft_seconds": view.draft_seconds,
        "history": [event.model_dump(mode="json") for event in view.history],
    }


async def read_form(request: Request) -> dict[str, list[str]]:
    """Parse an application/x-www-form-urlencoded body (the only form encoding the pages send)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise HTTPException(status_code=415, detail="expected a form (application/x-www-form-urlencoded)")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(status_code=413, detail="request body too large")
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=2000)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(status_code=400, detail="malformed form") from None


def first(form: dict[str, list[str]], key: str) -> str:
    values = form.get(key)
    return values[0] if values else ""


def _own_origin(request: Request) -> str:
    host = request.headers.get("host", "")
    return f"{request.url.scheme}://{host}"


def _safe_next(target: str) -> str:
    """Only same-site paths may follow sign-in, so the next parameter cannot redirect elsewhere."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/queue"
    return target


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")
