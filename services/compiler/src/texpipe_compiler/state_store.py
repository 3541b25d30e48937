"""The compiler's own S3 objects that later compiles of a document start from.

``compiler/aux/<document id>/<key>.json``: the auxiliary state of the last settled compile
(``incremental``); ``compiler/formats/<document id>/<identity>.json`` and ``<key>.fmt``:
what is known of a preamble and its format (``preamble``). Objects of one document are
read only for that document; a missing, oversized or unreadable one is a miss, never an
error of the compile (S3 being down still is: it raises, as for any other object). Formats
are handed to compiles as uncompressed files of the compiler's own disk (``FormatFiles``).
"""

import asyncio
import uuid
from collections.abc import Sequence
from pathlib import Path

from botocore.exceptions import ClientError
from texpipe_servicekit.s3 import ObjectTooLargeError, S3Store, is_missing

from texpipe_compiler import incremental, preamble
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.format_files import FormatFiles
from texpipe_compiler.latex_runner import MAX_FORMAT_BYTES

JSON_TYPE = "application/json"
FORMAT_TYPE = "application/octet-stream"


class StateStore:
    """Reads and writes auxiliary states, preamble manifests and formats."""

    def __init__(self, store: S3Store, formats: FormatFiles) -> None:
        """``formats``: where formats are kept as files (a key names one content for good:
        a document's format is not fetched from S3 again for each of its edits)."""
        self._store, self._formats = store, formats

    async def _get(self, key: str, max_bytes: int) -> bytes | None:
        try:
            return await self._store.get(key, max_bytes=max_bytes)
        except ObjectTooLargeError:
            return None
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise

    async def load_state(
        self, key: str, project: Sequence[ProjectFile]
    ) -> incremental.AuxSeed | None:
        """The state under ``key`` for a compile of ``project``; None when there is none or
        it breaks a rule (``incremental.decode_state``)."""
        data = await self._get(key, incremental.MAX_STATE_OBJECT_BYTES)
        if data is None:
            return None
        return incremental.decode_state(data, project)

    async def save_state(self, key: str, seed: incremental.AuxSeed) -> None:
        """Replace the state under ``key`` (the last settled compile wins)."""
        await self._store.put(key, incremental.encode_state(seed), content_type=JSON_TYPE)

    async def load_manifest(
        self, document_id: uuid.UUID, found: preamble.Preamble
    ) -> preamble.Manifest | None:
        """What is known of the preamble ``found`` of the document."""
        data = await self._get(
            preamble.manifest_key(document_id, found), preamble.MAX_MANIFEST_BYTES
        )
        return preamble.decode_manifest(data, document_id) if data is not None else None

    async def save_manifest(
        self, document_id: uuid.UUID, found: preamble.Preamble, manifest: preamble.Manifest
    ) -> None:
        """Record what is known of the preamble ``found``."""
        key = preamble.manifest_key(document_id, found)
        await self._store.put(key, preamble.encode_manifest(manifest), content_type=JSON_TYPE)

    async def load_format(self, key: str) -> Path | None:
        """The file of the format under ``key`` (fetched from S3 when this compiler has not
        got it yet), if there is one."""
        path = await asyncio.to_thread(self._formats.get, key)
        if path is not None:
            return path
        data = await self._get(key, MAX_FORMAT_BYTES)
        if data is None:
            return None
        return await asyncio.to_thread(self._formats.put, key, data)

    async def stage_format(self, key: str, data: bytes) -> Path | None:
        """A freshly dumped format as a file, before it is checked (not in S3 yet); None when
        it cannot be one (``FormatFiles.put``)."""
        return await asyncio.to_thread(self._formats.put, key, data)

    async def discard_format(self, key: str) -> None:
        """Drop a staged format that failed its check."""
        await asyncio.to_thread(self._formats.discard, key)

    async def save_format(self, key: str, data: bytes) -> None:
        """Store a checked format in S3 (written before the manifest that names it)."""
        await self._store.put(key, data, content_type=FORMAT_TYPE)
