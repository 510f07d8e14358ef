"""Where training runs and in what precision: the device, and whether bfloat16 pays.

bfloat16 autocast halves a CPU training step where the CPU has AVX512-BF16 or AMX and
costs more than float32 where it is emulated; ``bf16_unsupported_reason`` reads the CPU's
flags and the caps that imitate an older CPU (docs/training.md, "bfloat16, where the
hardware has it").
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


_ONEDNN_ISAS_WITHOUT_BF16 = frozenset({"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2",
                                       "AVX512_CORE", "AVX512_CORE_VNNI"})
_X86 = frozenset({"x86_64", "amd64", "i386", "i686"})


def _cpu_has_bf16_instructions() -> bool:
    """AVX512-BF16 or AMX-BF16, as cpuinfo (through torch) or else /proc/cpuinfo says."""
    try:
        caps = torch.cpu.get_capabilities()
        return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))
    except (AttributeError, RuntimeError):
        try:
            flags = Path("/proc/cpuinfo").read_text().split()
        except OSError:
            return False
        return "avx512_bf16" in flags or "amx_bf16" in flags


def bf16_unsupported_reason(device: str = "auto") -> str | None:
    """Why bfloat16 autocast is not for ``device`` here, or None when it is: a CUDA GPU with
    bfloat16, or a CPU with AVX512-BF16 or AMX. Without them oneDNN cannot create its
    bfloat16 LSTM primitive ("could not create a primitive descriptor for the LSTM forward
    propagation primitive", mid-run). Read from the CPU's flags: oneDNN's own check says
    yes on an AVX512 CPU without them, where it emulates bfloat16 and a training step takes
    longer than in float32 (docs/training.md has the figures). ``ONEDNN_MAX_CPU_ISA`` (or
    ``DNNL_``) below AVX512_CORE_BF16 and ``ATEN_CPU_CAPABILITY`` below avx512 count as
    their absence: they are how an older CPU is imitated on a newer one."""
    dev = pick_device(device)
    if dev.type == "cuda":
        return None if torch.cuda.is_bf16_supported() else "this CUDA GPU has no bfloat16"
    if dev.type != "cpu":
        return f"bfloat16 autocast is only used on CPUs and CUDA GPUs, not {dev.type}"
    if platform.machine().lower() in _X86:
        if not _cpu_has_bf16_instructions():
            return "this CPU has neither AVX512-BF16 nor AMX"
        for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
            isa = os.environ.get(name, "").strip().upper()
            if isa in _ONEDNN_ISAS_WITHOUT_BF16:
                return f"{name}={isa} keeps oneDNN below AVX512-BF16 and AMX"
        aten = torch.backends.cpu.get_cpu_capability()
        if aten in ("DEFAULT", "NO AVX", "AVX2"):
            return f"PyTorch's CPU kernels run at {aten} (ATEN_CPU_CAPABILITY), below AVX512"
    try:
        supported = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        supported = False
    return None if supported else "oneDNN has no bfloat16 kernels for this CPU"


def bf16_supported(device: str = "auto") -> bool:
    """Whether bfloat16 autocast works, and pays, on ``device`` (``bf16_unsupported_reason``)."""
    return bf16_unsupported_reason(device) is None
