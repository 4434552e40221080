"""Sample files and a loopback file server that plays SharePoint for download tests.

The samples are built here, byte by byte, so each test states exactly what it
sends: real signatures, and the Word parts a .docx (or a .docm) really has.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"
#: A file name as users name forms: it holds a (test) patient's name and NHS number.
PATIENT_FILE_NAME = "Zebediahson Alexandra 9990000018 kings us.pdf"
PATIENT_NAME_PARTS = ("Zebediahson", "Alexandra", "9990000018")

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7"
    b"5\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 32
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"
HTML = b"<!DOCTYPE html><html><body><form>Radiology request</form></body></html>"

_WORD = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_WORD_MACRO = "application/vnd.ms-word.document.macroEnabled.main+xml"


def word_package(
    main_type: str = _WORD, *, vba: bool = False, document: bool = True, dtd: str = ""
) -> bytes:
    """A minimal OOXML package: [Content_Types].xml naming word/document.xml's type."""
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        + dtd
        + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/word/document.xml" ContentType="{main_type}"/>'
        "</Types>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", "<Relationships/>")
        if document:
            archive.writestr("word/document.xml", "<w:document/>")
        if vba:
            archive.writestr("word/vbaProject.bin", b"\x00" * 64)
    return buffer.getvalue()


DOCX = word_package()
DOCM = word_package(_WORD_MACRO, vba=True)


@dataclass
class FileServer:
    """Serves registered files at /files/<name>; records every request it sees.

    `/chunked/<name>` streams without a Content-Length; `/redirect/<name>`
    answers 302 to `redirects[name]`.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/files/{name}", self._file)
        app.router.add_get("/chunked/{name}", self._chunked)
        app.router.add_get("/redirect/{name}", self._redirect)
        app.router.add_get("/v3/attachments/{name}/views/original", self._file)
        return app

    def url(self, name: str, route: str = "files") -> str:
        return f"{self.base_url}/{route}/{name}"

    def _seen(self, request: web.Request) -> None:
        self.requests.append({"path": request.path, "headers": dict(request.headers)})

    async def _file(self, request: web.Request) -> web.Response:
        self._seen(request)
        body = self.files.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(body=body, content_type="application/octet-stream")

    async def _chunked(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        body = self.files[request.match_info["name"]]
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 4096):
            await response.write(body[start : start + 4096])
        await response.write_eof()
        return response

    async def _redirect(self, request: web.Request) -> web.Response:
        self._seen(request)
        raise web.HTTPFound(self.redirects[request.match_info["name"]])


async def serve_files(
    aiohttp_server: Any, files: dict[str, bytes] | None = None, host: str = "127.0.0.1"
) -> FileServer:
    """A FileServer with `files`, started on `host` (a loopback address) by pytest-aiohttp."""
    server = FileServer(files=dict(files or {}))
    started = await aiohttp_server(server.app(), host=host)
    server.base_url = str(started.make_url("")).rstrip("/")
    return server


def file_attachment(url: str, name: str = PATIENT_FILE_NAME, **content: Any) -> dict[str, Any]:
    """An attachment exactly as Teams sends a file uploaded in a personal chat."""
    return {
        "contentType": FILE_DOWNLOAD_INFO,
        "contentUrl": "https://contoso-my.sharepoint.com/personal/sam/Documents/" + name,
        "name": name,
        "content": {
            "downloadUrl": url,
            "uniqueId": "1150D938-8870-4044-9F2C-5BBDEBA70C9D",
            "fileType": name.rpartition(".")[2],
            "etag": "123",
            **content,
        },
    }
