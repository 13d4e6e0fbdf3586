"""Valley margins: their settings, and the one-way dependency of margins on the front package."""
import ast
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import CSC_Application.front as front
from CSC_Application.front import FrontSettings
from CSC_Application.margins import extract_margins
from csc.classes import GLACIER
from csc.errors import FrontError

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "CSC_Application" / "front"
OPEN_WATER, GLACIER_ICE, ROCK = 1, 4, 7


def fjord():
    """Ocean above row 100, glacier below between rock walls: two margins of 100 pixels
    (columns 20 and 179, rows 100..199) and a 3×3 speck of rock inside the glacier."""
    cm = np.full((200, 200), GLACIER_ICE, np.uint8)
    cm[:100] = OPEN_WATER
    cm[:, :20] = ROCK
    cm[:, 180:] = ROCK
    cm[150:153, 100:103] = ROCK
    return cm


# --- the minimum length and the speckle size --------------------------------------------------

@pytest.mark.parametrize("pixel_size, length, found, unit", [
    (10.0, None, True, "m"),      # 99 steps of 10 m ≥ 500 m
    (1.0, None, False, "m"),      # 99 m < 500 m
    (None, None, True, "px"),     # 99 px ≥ 50 px
    (10.0, 1500.0, False, "m"),   # metres with a pixel size …
    (None, 1500.0, False, "px"),  # … pixels without
    (None, 90.0, True, "px"),
])
def test_min_margin_length_is_metres_with_a_pixel_size_else_pixels(pixel_size, length, found,
                                                                     unit):
    settings = FrontSettings(min_margin_length=length, min_rock_pixels=500)
    if found:
        margins = extract_margins(fjord(), schema=GLACIER, pixel_size=pixel_size,
                                  settings=settings)
        assert len(margins.lines) == 2
        assert margins.length_px == pytest.approx(2 * 99.0)
        return
    threshold = length or front.AUTO_MIN_MARGIN_LENGTH_M
    with pytest.raises(FrontError, match=re.escape(f"minimum margin length of {threshold:g} "
                                                   f"{unit} (longest: ")):
        extract_margins(fjord(), schema=GLACIER, pixel_size=pixel_size, settings=settings)


def test_rock_speckle_draws_margins_only_below_the_minimum_rock_size():
    cm = fjord()
    cleaned = extract_margins(cm, schema=GLACIER, pixel_size=10.0)  # 0.05 km² = 500 pixels
    assert not cleaned.mask[145:160, 95:110].any()
    kept = extract_margins(cm, schema=GLACIER, pixel_size=10.0,
                           settings=FrontSettings(min_rock_pixels=0, min_margin_length=0.0))
    assert kept.mask[145:160, 95:110].any()
    assert extract_margins(cm, schema=GLACIER, pixel_size=10.0,
                           settings=FrontSettings(min_rock_km2=0.0008, min_margin_length=0.0)
                           ).mask[145:160, 95:110].any()  # 8 pixels of 100 m²


# --- margins depend on the front package, one way ---------------------------------------------

def _imports(path):
    """(node, nested in a function) for every import statement of ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node, nested):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append((child, nested))
            visit(child, nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.Lambda)))

    visit(tree, False)
    return found


def _modules(node):
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return [node.module or ""]


@pytest.mark.parametrize("first, then", [("CSC_Application.margins", "CSC_Application.front"),
                                         ("CSC_Application.front", "CSC_Application.margins"),
                                         ("CSC_Application.front.margins", "CSC_Application")])
def test_margins_and_front_import_in_a_fresh_interpreter(first, then):
    code = f"import {first}, {then}; import CSC_Application.margins as m; print(m.extract_margins)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "extract_margins" in done.stdout


def test_margins_use_only_the_public_api_of_the_front_package():
    imports = _imports(ROOT / "CSC_Application" / "margins.py")
    from_front = [node for node, _ in imports if isinstance(node, ast.ImportFrom)
                  and (node.module or "").startswith("CSC_Application.front")]
    assert from_front, "CSC_Application.margins imports the front package"
    names = [alias.name for node in from_front for alias in node.names]
    assert not [n for n in names if n.startswith("_")]
    assert set(names) <= set(front.__all__)
    assert all(node.module == "CSC_Application.front" for node in from_front)


def test_front_package_never_imports_margins_nor_its_own_init():
    for path in sorted(PACKAGE.glob("*.py")):
        for node, nested in _imports(path):
            for module in _modules(node):
                assert module != "CSC_Application.margins", f"{path.name} imports margins"
                if path.name != "__init__.py":  # a submodule importing the package is a cycle
                    assert module != "CSC_Application.front", f"{path.name}:{node.lineno}"
                assert not (nested and module.split(".")[0] in ("csc", "CSC_Application")), (
                    f"{path.name}:{node.lineno} imports {module} inside a function")
