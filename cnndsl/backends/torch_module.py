"""Graph to a live ``torch.nn.Module``, by executing the generated source.

The in-memory module and the file `cnndsl compile -o` writes come from the
same text, so they cannot drift apart. The text is registered with
``linecache`` under a pseudo file name and its module in ``sys.modules``,
so tracebacks show the generated lines and ``inspect.getsource`` (which
``torch.jit.script`` needs) finds them. Classes are cached by everything
they carry (the source text, the spec locations, the node paths and the
probe): building the same network twice compiles its class once, and a
spec edited only above a layer gets a class that names its new line.
"""

from __future__ import annotations

import hashlib
import linecache
import sys
import types

from .torch_codegen import GeneratedSource, generate

_CLASSES: dict[str, type] = {}


def load_class(source: GeneratedSource, probe=None) -> type:
    """Execute generated source and return its network class.

    ``probe`` is the function the probed variant calls after every layer.
    """
    # The class carries spec_lines and node_paths besides its text: a spec
    # edited above a layer compiles to the same text with other locations.
    carried = repr((source.text, sorted(source.spec_lines.items()),
                    sorted(source.module_paths.items()), sorted(source.param_paths.items())))
    digest = hashlib.sha1(carried.encode()).hexdigest()[:12]
    key = f"{digest}-{id(probe)}" if probe is not None else digest
    if key in _CLASSES:
        return _CLASSES[key]
    module_name = f"cnndsl_generated.{source.class_name.lower()}_{key.replace('-', '_')}"
    filename = f"<cnndsl-generated {source.class_name} {key}>"
    lines = source.text.splitlines(keepends=True)  # only \n: verify_source allows no other
    linecache.cache[filename] = (len(source.text), None, lines, filename)
    module = types.ModuleType(module_name)
    module.__file__ = filename
    if probe is not None:
        module.probe = probe
    # A package for the generated modules, so pickle (and copy via __reduce__) finds a
    # class by name within this process; a checkpoint to keep is a state_dict.
    package = sys.modules.get("cnndsl_generated")
    if package is None:
        package = sys.modules["cnndsl_generated"] = types.ModuleType("cnndsl_generated")
        package.__path__ = []
    setattr(package, module_name.rpartition(".")[2], module)
    sys.modules[module_name] = module
    exec(compile(source.text, filename, "exec"), module.__dict__)  # noqa: S102 (our own codegen)
    cls = getattr(module, source.class_name)
    # Where each layer was declared, for error messages (transfer_weights).
    cls.spec_lines = dict(source.spec_lines)
    cls.node_paths = dict(source.module_paths)
    cls.param_paths = dict(source.param_paths)  # bare parameters (layer scale), not modules
    _CLASSES[key] = cls
    return cls


def build_module(graph, *, overrides: dict | None = None, probe=None):
    """A fresh module for the graph, initialised as torch initialises each layer."""
    source = generate(graph, overrides=overrides, probe=probe is not None)
    return load_class(source, probe)()


def torchscript_bytes(module) -> bytes:
    """The module compiled by ``torch.jit.script`` and saved, as ``torch.jit.load`` reads it."""
    import io
    import warnings

    import torch  # noqa: PLC0415

    with warnings.catch_warnings():
        # Deprecated in favour of torch.export, but still what C++ and older
        # runtimes load; the user asked for it by name.
        warnings.filterwarnings("ignore", message=".*torch.jit.*deprecated")
        scripted = torch.jit.script(module)
        buffer = io.BytesIO()
        torch.jit.save(scripted, buffer)
    return buffer.getvalue()


def onnx_bytes(module, input_shape: tuple, batch: int = 2) -> bytes:
    """The module exported with torch.onnx's exporter (the onnx extra: onnx and
    onnxscript; :class:`cnndsl.extras.MissingExtra` without them).

    The batch axis is dynamic, so the file serves any batch size.
    """
    import logging
    import os
    import tempfile
    import warnings

    from ..extras import require  # noqa: PLC0415
    require("onnx", "ONNX export")
    import torch  # noqa: PLC0415

    example = torch.zeros(batch, *input_shape)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # per-phase progress lines
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = os.path.join(tmp, "model.onnx")
        torch.onnx.export(module.eval(), (example,), path, dynamo=True, verbose=False,
                          input_names=["x"], output_names=["y"],
                          dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
                          external_data=False)
        with open(path, "rb") as f:
            return f.read()
