"""What a reader sees in a PDF, read as the corpora's manifests say: with poppler's pdftotext."""

import subprocess
import tempfile


def pdftotext(data: bytes) -> str:
    """The text of the PDF ``data`` (UTF-8, pages separated by form feeds); blocking.

    Raises ``subprocess.CalledProcessError`` when poppler cannot read it.
    """
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(data)
        handle.flush()
        return subprocess.run(
            ["pdftotext", "-enc", "UTF-8", handle.name, "-"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
