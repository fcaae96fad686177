"""Pure mappings between detection records and STIX 2.1 objects (no I/O).

Importing this package registers the project's custom STIX classes with the
``stix2`` library (``mappings.stix_classes``), so any consumer that imports
``mappings`` can ``stix2.parse`` the exchange's objects with
``allow_custom=False``. The only files read are this package's own data: the
extension definitions and their JSON Schemas under ``mappings/data``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from mappings import stix_classes as _stix_classes  # noqa: F401  (registers the classes)


def schemas_dir() -> Path:
    """The directory of JSON Schemas to give stix2-validator as ``--schemas``.

    One schema per extension definition, named ``<extension-definition id>.json``:
    the validator looks each extension id up by that file name and checks the
    whole object that uses the extension against it.
    """
    path = Path(str(resources.files("mappings").joinpath("data", "schemas")))
    if not path.is_dir():
        raise RuntimeError(f"mappings schema directory missing: {path} (broken install?)")
    return path
