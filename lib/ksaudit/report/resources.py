"""What the reports ship as package data: the notebooks, the nbconvert template and its CSS.

Found through `importlib.resources` inside the installed package, never relative to a
checkout, so a wheel renders from any directory.  `notebooks/` at the top of the
repository holds links to these notebooks for JupyterLab users; the copies here are
the only ones.
"""

from importlib.resources import files
from pathlib import Path


def package_path(*parts):
    """A file or directory shipped inside `ksaudit.report`, as a filesystem path.

    papermill and nbconvert need real paths, so ksaudit is installed unzipped (as pip
    installs a wheel); the path may not exist when the install lacks the file.
    """
    return Path(str(files("ksaudit.report").joinpath(*parts)))


NOTEBOOKS_DIR = package_path("notebooks")
TEMPLATES_DIR = package_path("templates")
CSS_PATH = TEMPLATES_DIR / "ksaudit" / "static" / "ksaudit.css"
