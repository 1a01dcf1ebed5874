"""The export dialog: a folder and one of the engine's export formats.

Nothing is written without asking: a folder that does not exist yet is
created only once the person says so (a mistyped path must not get files),
and a folder that is not empty is written into only once the person agrees
to replace files of the same names.
"""
from __future__ import annotations

from pathlib import Path

from magicgui.widgets import ComboBox, Container, FileEdit
from napari.utils.notifications import show_error
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QDialog, QDialogButtonBox, QLabel, QMessageBox, QVBoxLayout

from .engine.export import EXPORT_FORMATS


def export_question(folder: Path) -> str | None:
    """What to ask before exporting to ``folder``; None for an empty folder.

    Raises ValueError when ``folder`` is an existing file."""
    folder = Path(folder)
    if not folder.exists():
        return f"{folder} does not exist. Create it and export the labels there?"
    if not folder.is_dir():
        raise ValueError(f"{folder} is a file, not a folder")
    if any(folder.iterdir()):
        return (f"{folder} is not empty. Write the labels there, replacing files "
                "of the same names?")
    return None


class ExportDialog(QDialog):
    """Asks for the folder and the format. :meth:`choice` reads them.
    ``unfit`` maps a format that cannot hold the dataset's classes to why:
    it is listed, greyed out, and the dialog says why."""

    def __init__(self, parent=None, folder: Path | None = None,
                 unfit: dict[str, str] | None = None):
        super().__init__(parent)
        unfit = unfit or {}
        self.setWindowTitle("Export the corrected labels")
        names = list(EXPORT_FORMATS)
        self.form = Container(widgets=[
            FileEdit(name="folder", label="Folder", mode="d", value=folder or ""),
            ComboBox(name="format", label="Format",
                     choices=[(f"{name}: {what}", name) for name, what in
                              EXPORT_FORMATS.items()],
                     value=next((n for n in names if n not in unfit), names[0])),
        ])
        combo = self.form.format.native
        for name, why in unfit.items():
            row = names.index(name)
            combo.model().item(row).setEnabled(False)
            combo.setItemData(row, why, Qt.ToolTipRole)
        self.unfit_note = QLabel("<br>".join(f"<b>{name}</b> cannot be chosen: {why}."
                                             for name, why in unfit.items()))
        self.unfit_note.setWordWrap(True)
        self.unfit_note.setVisible(bool(unfit))
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form.native)
        layout.addWidget(self.unfit_note)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)

    def choice(self) -> tuple[Path | None, str]:
        """The chosen folder (None when none was typed) and format."""
        folder = str(self.form.folder.value)
        return (None if folder in ("", ".") else Path(folder).expanduser(),
                self.form.format.value)


def confirm_export(parent, folder: Path) -> bool | None:
    """Ask what :func:`export_question` says needs asking. Returns None when
    the person declines, else whether files may be overwritten."""
    question = export_question(folder)
    if question is None:
        return False
    if QMessageBox.question(parent, "Export labels", question) != QMessageBox.Yes:
        return None
    return folder.exists()


def ask_export(parent, check, unfit: dict[str, str] | None = None
               ) -> tuple[Path, str, bool] | None:
    """The export dialog, then whatever needs asking: the folder, the format
    and whether files may be overwritten; None when the person gives up
    (a mistake is shown as a napari notification). ``check(folder, format)``
    raises ValueError where no answer could make the export possible (the
    dataset's folder, a format that cannot hold the classes): nothing is
    asked then. ``unfit``: the formats that cannot hold the classes, and
    why (:class:`ExportDialog`)."""
    dialog = ExportDialog(parent, unfit=unfit)
    if not dialog.exec_():
        return None
    folder, format = dialog.choice()
    if folder is None:
        show_error("Choose a folder to export the labels to.")
        return None
    try:
        check(folder, format)
        overwrite = confirm_export(parent, folder)
    except ValueError as e:
        show_error(str(e))
        return None
    return None if overwrite is None else (folder, format, overwrite)
