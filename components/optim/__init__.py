"""Optimizers and learning-rate schedules for budgeted training: AdamW-style Shampoo, mSGDW, UBA and others."""

from components.optim.schedules import SCHEDULES, UBA, Schedule, build_scheduler, uba_factor
from components.optim.sgdw import MSGDW
from components.optim.shampoo import Shampoo, matrix_inverse_root

__all__ = ["MSGDW", "SCHEDULES", "UBA", "Schedule", "Shampoo", "build_scheduler", "matrix_inverse_root", "uba_factor"]
