"""torchvision importable beside the CPU build of torch: call ensure_importable() before transformers or open_clip load.

PyPI's torchvision that matches our torch (0.28.0 for 2.13.0) is linked against CUDA torch; beside the CPU build of
torch its _C.so does not load. torchvision copes with that everywhere but in _meta_registrations.py, which
registers fake kernels for torchvision::nms and ::qnms unconditionally, so `import torchvision` fails with
'operator torchvision::nms does not exist'. Once it is installed (open_clip needs it), transformers imports it
too, from `transformers.image_utils`, whenever a CLIPModel loads. Only on that exact error we define the two
schemas, without kernels, and import again: torchvision then imports as it does without its C++ ops
(`torchvision.extension._has_ops()` is False), and CLIP never calls non-maximum suppression or the other
detection ops. With a matching torch and torchvision the first import succeeds and none of this runs.
"""

from __future__ import annotations

import re
import sys
import threading

from core.common.errors import ModelLoadError

# The two operators registered unconditionally; schemas as torchvision's C++ (csrc/ops/nms.cpp) defines them.
SCHEMAS = {"nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
           "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"}
_MISSING_OPERATOR = re.compile(r"operator torchvision::(\w+) does not exist")

_lock = threading.Lock()
_stand_ins = None  # torch drops a Library's definitions when the object is collected: keep it for the process


def ensure_importable() -> None:
    """Import torchvision if it is installed, with stand-ins for nms and qnms when (only when) its C++ part cannot
    load; nothing when it is not installed. Another failure is a ModelLoadError naming it."""
    global _stand_ins
    with _lock:
        import torch  # noqa: F401  (before the snapshot below: only what a failed import added is dropped)

        before = set(sys.modules)
        try:
            import torchvision  # noqa: F401
        except ImportError:
            return  # not installed: transformers does not look for it either
        except RuntimeError as exc:
            missing = _MISSING_OPERATOR.search(str(exc))
            if not missing or missing.group(1) not in SCHEMAS:
                raise ModelLoadError(f"torchvision failed to import ({exc}); install the torchvision release that "
                                     "matches torch (see requirements.txt)") from exc
            for name in set(sys.modules) - before:  # the half-imported torchvision, so the retry runs it again
                del sys.modules[name]
            _stand_ins = _define_stand_ins()
            import torchvision  # noqa: F401,F811


def _define_stand_ins():
    """Define torchvision::nms and ::qnms (schemas only) where they do not exist yet; returns their library."""
    import torch

    library = torch.library.Library("torchvision", "FRAGMENT")
    for name, schema in SCHEMAS.items():
        if not hasattr(torch.ops.torchvision, name):  # AttributeError inside: no operator of that name yet
            library.define(schema)
    return library
