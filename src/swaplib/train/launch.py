"""Starting a training as several ranks: torchrun runs one process per device (train.devices) on
each machine (train.nodes), every one of them this module's main() on the same job file.

    python -m torch.distributed.run --standalone --nproc-per-node 2 -m swaplib.train.launch JOB.json

The job file holds train_face_sets' arguments (written by spawn() into the state folder). Rank 0
writes the log lines to the job's log file (appended) and the summary beside the job file; the
other ranks only say what goes wrong. On several machines the job file and the state folder must
lie on a file system they share (the workflow's working folder, as SLURM runs it).
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import torch

from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.core.jobs import LOG_FORMAT
from swaplib.core.progress import console_filter
from swaplib.model.base import resolve_device
from swaplib.train import distributed
from swaplib.train.settings import TrainSettings
from swaplib.train.signals import TrainingInterrupted

JOB, RESULT = "ranks-job.json", "ranks-result.json"  # in the state folder
PORT = 29500  # the rendezvous port on the first machine (several machines)
log = logging.getLogger("swaplib.train")


def check_devices(s: TrainSettings) -> torch.device:
    """The device the ranks train on, when this machine has train.devices of them (else a clear error)."""
    device = resolve_device(s.device)
    distributed.split(s.batch_size, s.devices * s.nodes)
    if device.type == "cuda":
        if device.index is not None:
            raise SwaplibError(
                f"train.device {s.device} names one GPU, train.devices {s.devices} asks for more: set "
                f"train.device to auto or cuda (the ranks take GPUs 0..{s.devices - 1})"
            )
        have, what = torch.cuda.device_count(), "GPU(s)"
    elif device.type == "cpu":
        have, what = len(os.sched_getaffinity(0)), "CPU core(s) for this job (one rank a core at least)"
    else:
        raise SwaplibError(
            f"train.devices {s.devices}: data-parallel training runs on CUDA GPUs or CPUs, not {device.type}"
        )
    if s.devices > have:
        raise SwaplibError(f"train.devices {s.devices}: this machine has {have} {what}; lower train.devices")
    return device


def torchrun(devices: int, nodes: int, job: Path) -> list[str]:
    """The command that starts the ranks: torchrun on this machine, or on every machine of a SLURM job."""
    run = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(devices)]
    entry = ["-m", "swaplib.train.launch", str(job)]
    if nodes == 1:
        return [*run, "--standalone", *entry]
    if int(os.environ.get("SLURM_JOB_NUM_NODES", "1")) < nodes or not shutil.which("srun"):
        raise SwaplibError(
            f"train.nodes {nodes}: this job was given no {nodes} machines by SLURM (profiles/slurm "
            f"asks for them); elsewhere start `torchrun --nnodes {nodes} --nproc-per-node {devices} "
            f"--rdzv-backend c10d --rdzv-endpoint HOST:{PORT} -m swaplib.train.launch {job}` on each "
            f"machine, from this working folder (docs/scale-out.md)"
        )
    hosts = subprocess.run(
        ["scontrol", "show", "hostnames", os.environ["SLURM_JOB_NODELIST"]], capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        "srun",
        "--overlap",  # beside the step that runs this job on the first node
        f"--nodes={nodes}",
        "--ntasks-per-node=1",
        *run,
        f"--nnodes={nodes}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={hosts[0]}:{PORT}",
        f"--rdzv-id={os.environ.get('SLURM_JOB_ID', 'swaplib')}",
        *entry,
    ]


def spawn(job: dict, s: TrainSettings) -> dict:
    """Train on s.devices x s.nodes ranks (train_face_sets' arguments in `job`); rank 0's summary."""
    device = check_devices(s)
    ranks = s.devices * s.nodes
    state = Path(job["files"]["state_dir"])
    state.mkdir(parents=True, exist_ok=True)
    (state / RESULT).unlink(missing_ok=True)
    threads = job["threads"] or len(os.sched_getaffinity(0))
    job = {
        **job,
        "threads": max(1, threads // s.devices),  # the job's cores, shared by this machine's ranks
        "log_file": _append_to_log_files(),
    }
    with atomic_path(state / JOB) as tmp:
        tmp.write_text(json.dumps(job, default=str, indent=1))
    command = torchrun(s.devices, s.nodes, state / JOB)
    log.info(
        "training on %d ranks (%d %s device(s) on each of %d machine(s)): %s",
        ranks,
        s.devices,
        device.type,
        s.nodes,
        " ".join(command),
    )
    code, passed = _run(command)
    if passed is not None:
        raise TrainingInterrupted(
            f"training on {ranks} ranks stopped by {signal.Signals(passed).name}; rank 0 "
            f"saved its state in {state}: run again to resume"
        )
    if code == 0 and (state / RESULT).exists():
        summary = json.loads((state / RESULT).read_text())
        for name in (JOB, RESULT):
            (state / name).unlink()
        return summary
    raise SwaplibError(
        f"training on {ranks} ranks stopped (torchrun exit status {code}; the ranks' errors are above); "
        f"a rerun resumes from the last checkpoint in {state}"
    )


def _append_to_log_files() -> str | None:
    """This process's log file, reopened for appending (rank 0 appends to it too); None without one."""
    path = None
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.setStream(open(handler.baseFilename, "a", encoding=handler.encoding)).close()
            path = handler.baseFilename
    return path


def _death_signal():
    """For the child, before torchrun starts: a SIGTERM when this process dies (Linux's prctl
    PR_SET_PDEATHSIG), so no rank trains on alone. Looked up here: after the fork only the call runs."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)


def _run(command: list[str]) -> tuple[int, int | None]:
    """Run torchrun in a session of its own: a SIGINT or SIGTERM to this process reaches it once, as
    the one signal that stops the ranks after their step (a terminal's Ctrl-C would reach it twice).
    Its exit status, and the signal passed on (None: none came)."""
    proc = subprocess.Popen(command, start_new_session=True, preexec_fn=_death_signal())
    passed = []

    def forward(signum, frame):
        passed.append(signum)
        proc.send_signal(signum)

    main = threading.current_thread() is threading.main_thread()  # where Python lets handlers be set
    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        return proc.wait(), (passed or [None])[0]
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> None:
    """One rank of a training: train_face_sets on the job file's arguments."""
    from swaplib.train.loop import train_face_sets  # the loop imports this module to spawn the ranks

    job_path = Path((argv or sys.argv[1:])[0])
    job = json.loads(job_path.read_text())
    rank = int(os.environ.get("RANK", "0"))
    console = logging.StreamHandler(sys.stderr)
    console.addFilter(console_filter)
    handlers: list[logging.Handler] = [console]
    if rank == 0 and job.get("log_file"):
        handlers.append(logging.FileHandler(job["log_file"], mode="a"))
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format=f"rank {rank} {LOG_FORMAT}",
        handlers=handlers,
        force=True,
    )
    args = {k: job[k] for k in ("src", "dst", "preset", "threads", "section", "files", "base", "masks")}
    try:
        with distributed.joined():
            summary = train_face_sets(**args)
    except SwaplibError as e:
        log.error("%s", e)
        sys.exit(1)
    except KeyboardInterrupt as e:
        log.error("%s", e or "interrupted")
        sys.exit(130)
    if rank == 0:
        with atomic_path(job_path.with_name(RESULT)) as tmp:
            tmp.write_text(json.dumps(summary, default=str))


if __name__ == "__main__":
    main()
