"""`capture_env=True`: environment.json with Python, platform, packages, git state and visible GPUs."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

# Variables worth keeping for reproducibility; nothing that could hold a secret.
ENV_KEYS = ["CUDA_VISIBLE_DEVICES", "CUDA_HOME", "CUDA_PATH", "CUDNN_VERSION", "NCCL_DEBUG", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "PYTHONHASHSEED", "PYTORCH_CUDA_ALLOC_CONF", "TF_CPP_MIN_LOG_LEVEL", "WORLD_SIZE",
            "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "CONDA_DEFAULT_ENV", "VIRTUAL_ENV", "SLURM_JOB_ID"]


def _run(cmd: List[str], cwd: Optional[Path] = None, timeout: float = 5.0) -> Optional[str]:
    try:
        res = subprocess.run(cmd, cwd=str(cwd) if cwd else None, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             timeout=timeout, universal_newlines=True)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return res.stdout if res.returncode == 0 else None


def pip_packages() -> Optional[List[str]]:
    """Installed distributions as sorted `name==version` lines (importlib.metadata; no pip subprocess)."""
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    seen: Dict[str, str] = {}
    try:
        for dist in metadata.distributions():
            name = dist.metadata["Name"] if dist.metadata else None
            if name and name.lower() not in seen:
                seen[name.lower()] = "%s==%s" % (name, dist.version)
    except Exception:
        return None
    return [seen[k] for k in sorted(seen)]


def git_info(cwd: Path) -> Optional[Dict[str, Any]]:
    """Commit, branch, dirty flag, remote and last commit message of the repo around `cwd`, or None."""
    if shutil.which("git") is None:
        return None
    inside = _run(["git", "rev-parse", "--is-inside-work-tree"], cwd)
    if not inside or inside.strip() != "true":
        return None
    info: Dict[str, Any] = {}
    commit = _run(["git", "rev-parse", "HEAD"], cwd)
    if commit:
        info["commit"] = commit.strip()
    branch = _run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd)
    if branch:
        info["branch"] = branch.strip()
    status = _run(["git", "status", "--porcelain"], cwd, timeout=15.0)
    if status is not None:
        changed = [ln for ln in status.splitlines() if ln.strip()]
        info["has_changes"] = bool(changed)
        info["dirty"] = bool(changed)
        if changed:
            info["changed_files_count"] = len(changed)
    remote = _run(["git", "remote", "get-url", "origin"], cwd)
    if remote:
        info["remote"] = remote.strip()
    msg = _run(["git", "log", "-1", "--pretty=%B"], cwd)
    if msg:
        info["last_commit_message"] = msg.strip()
    return info


def gpu_info() -> Optional[List[Dict[str, Any]]]:
    """GPUs reported by nvidia-smi (name, memory, driver), or None when it is absent."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    out = _run([exe, "--query-gpu=index,name,memory.total,driver_version,uuid", "--format=csv,noheader,nounits"], timeout=10.0)
    if out is None:
        return None
    gpus = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 5:
            continue
        try:
            mem: Any = int(float(parts[2]))
        except ValueError:
            mem = parts[2]
        gpus.append({"index": parts[0], "name": parts[1], "memory_total_mb": mem, "driver_version": parts[3], "uuid": parts[4]})
    return gpus


def cuda_info() -> Optional[Dict[str, Any]]:
    """CUDA/cuDNN versions as seen by torch when it is already imported (never imports torch itself)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        return {"torch": getattr(torch, "__version__", None), "cuda": getattr(torch.version, "cuda", None),
                "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
                "available": bool(torch.cuda.is_available())}
    except Exception:
        return None


def capture_environment(working_dir: Optional[Path] = None) -> Dict[str, Any]:
    """The environment.json object (keys of the original's EnvironmentInfo, plus `cuda`)."""
    wd = Path(working_dir) if working_dir else Path.cwd()
    conda_env = os.environ.get("CONDA_DEFAULT_ENV") or (Path(os.environ["CONDA_PREFIX"]).name if os.environ.get("CONDA_PREFIX") else None)
    return {
        "python_version": sys.version,
        "platform": "%s %s (%s)" % (platform.system(), platform.release(), platform.machine()),
        "platform_details": {
            "system": platform.system(), "node": platform.node(), "release": platform.release(),
            "version": platform.version(), "machine": platform.machine(), "processor": platform.processor(),
            "python_implementation": platform.python_implementation(), "python_compiler": platform.python_compiler(),
            "executable": sys.executable,
        },
        "pip_packages": pip_packages(),
        "conda_packages": None,
        "conda_env": conda_env,
        "git_info": git_info(wd),
        "env_variables": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
        "gpu_info": gpu_info(),
        "cuda": cuda_info(),
    }
