"""Receiving files: content checks by signature, the host allow-list, the downloader.

Real HTTP: a loopback file server (and a second one on 127.0.0.2 that must
never be asked), an https server with a self-signed certificate, aiohttp.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import logging
import ssl
import zipfile
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from botbuilder.schema import Activity
from yarl import URL

from bot.files.content import BY_EXTENSION, identify, megabytes
from bot.files.content import DOCX as DOCX_KIND
from bot.files.content import JPEG as JPEG_KIND
from bot.files.content import PDF as PDF_KIND
from bot.files.content import PNG as PNG_KIND
from bot.files.download import DownloadRefused, FileDownloader, HostPolicy
from bot.settings import ConfigurationError, Settings
from bot.teams.activities import file_offers
from bot.turns import FileOffer
from tests.support.files import (
    DOCM,
    DOCX,
    EXE,
    HTML,
    JPEG,
    PDF,
    PNG,
    FileServer,
    serve_files,
    word_package,
)
from tests.support.tls import self_signed_certificate

# --- content ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"), [(PDF, PDF_KIND), (DOCX, DOCX_KIND), (PNG, PNG_KIND), (JPEG, JPEG_KIND)]
)
def test_accepted_forms_are_known_by_their_content(data: bytes, kind: object) -> None:
    assert identify(data) == kind


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(EXE, id="executable"),
        pytest.param(HTML, id="html-page"),
        pytest.param(DOCM, id="macro-enabled-docm"),
        pytest.param(word_package(vba=True), id="docx-type-with-a-vba-project"),
        pytest.param(
            word_package(
                "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml"
            ),
            id="word-template",
        ),
        pytest.param(word_package(document=False), id="zip-without-the-word-document"),
        pytest.param(
            word_package(dtd="<!DOCTYPE Types [<!ENTITY a 'aaaaaaaaaa'>]>"),
            id="content-types-with-a-dtd",
        ),
        pytest.param(DOCX[: len(DOCX) // 2], id="truncated-docx"),
        pytest.param(b"", id="empty"),
        pytest.param(b"Radiology request for Zebediahson", id="plain-text"),
    ],
)
def test_anything_else_is_refused_whatever_it_is_called(data: bytes) -> None:
    assert identify(data) is None


WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"


def _package(parts: dict[str, str | bytes]) -> bytes:
    """A zip holding `parts` in this order (the signature check looks at the first ones)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in parts.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def _content_types(*overrides: str, padding: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        + "".join(overrides)
        + padding
        + "</Types>"
    )


def _override(part: str = "/word/document.xml", kind: str = WORD_MAIN) -> str:
    return f'<Override PartName="{part}" ContentType="{kind}"/>'


@pytest.mark.parametrize(
    "first",
    [
        pytest.param("docProps/app.xml", id="other-parts-first-so-a-plain-zip-by-signature"),
        pytest.param("xl/workbook.xml", id="a-spreadsheet-by-signature"),
        pytest.param("ppt/presentation.xml", id="a-presentation-by-signature"),
    ],
)
def test_a_word_document_is_known_by_its_word_parts_whatever_the_signature_guess(
    first: str,
) -> None:
    parts: dict[str, str | bytes] = {first: "<x/>"}
    if first.startswith("docProps"):
        parts |= {f"docProps/{n}.xml": "<x/>" for n in ("core", "custom", "extra")}
    parts |= {"[Content_Types].xml": _content_types(_override()), "word/document.xml": "<w/>"}
    assert identify(_package(parts)) == DOCX_KIND


def test_a_spreadsheet_or_a_plain_zip_is_not_a_word_document() -> None:
    sheet = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
    xlsx = _package(
        {
            "[Content_Types].xml": _content_types(_override("/xl/workbook.xml", sheet)),
            "xl/workbook.xml": "<x/>",
        }
    )
    assert identify(xlsx) is None
    assert identify(_package({"form.pdf": PDF})) is None


@pytest.mark.parametrize(
    "content_types",
    [
        pytest.param(_content_types(_override("/WORD/Document.XML")), id="part-name-any-case"),
        pytest.param(
            _content_types(_override("/word/styles.xml", "application/xml"), _override()),
            id="word-main-after-another-override",
        ),
        pytest.param(
            _content_types(_override(), padding="<!-- written by a form tool -->"),
            id="a-comment-is-not-a-dtd",
        ),
    ],
)
def test_content_types_a_real_word_package_may_have_are_accepted(content_types: str) -> None:
    parts = {"[Content_Types].xml": content_types, "word/document.xml": "<w/>"}
    assert identify(_package(parts)) == DOCX_KIND


@pytest.mark.parametrize(
    "content_types",
    [
        pytest.param(_content_types(), id="no-override-for-the-document"),
        pytest.param(_content_types(_override("/word/other.xml")), id="override-for-another-part"),
        pytest.param(
            _content_types()
            .replace(' xmlns="http://schemas.openxmlformats.org/package/2006/content-types"', "")
            .replace("</Types>", _override() + "</Types>"),
            id="override-outside-the-package-namespace",
        ),
        pytest.param("<Types><Override", id="not-well-formed-xml"),
        pytest.param(
            '<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://example.invalid/x.dtd">'
            + _content_types(_override())[len('<?xml version="1.0" encoding="UTF-8"?>') :],
            id="an-external-dtd",
        ),
    ],
)
def test_a_package_whose_content_types_do_not_make_it_a_word_document_is_refused(
    content_types: str,
) -> None:
    parts = {"[Content_Types].xml": content_types, "word/document.xml": "<w/>"}
    assert identify(_package(parts)) is None


def test_content_types_up_to_256_kilobytes_are_read_and_larger_refused() -> None:
    limit = 256 * 1024

    def package(size: int) -> bytes:
        base = _content_types(_override())
        padding = " " * (size - len(base))
        parts = {"[Content_Types].xml": _content_types(_override(), padding=padding)}
        return _package({**parts, "word/document.xml": "<w/>"})

    assert identify(package(limit)) == DOCX_KIND
    assert identify(package(limit + 1)) is None


def test_vba_parts_anywhere_in_any_case_refuse_the_package() -> None:
    parts = {"[Content_Types].xml": _content_types(_override()), "word/document.xml": "<w/>"}
    assert identify(_package({**parts, "customXml/VBAPROJECT.BIN": b"\0"})) is None


def test_an_encrypted_member_is_refused_not_a_crash() -> None:
    plain = _package(
        {"[Content_Types].xml": _content_types(_override()), "word/document.xml": "<w/>"}
    )
    # Set the "encrypted" flag bit on every entry, in the local and the central headers.
    data = bytearray(plain)
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (at := data.find(signature, start)) != -1:
            data[at + flag_offset] |= 0x01
            start = at + 4
    assert identify(bytes(data)) is None


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "1 KB"),
        (100, "1 KB"),
        (1536, "2 KB"),
        (1024 * 1024 - 1, "1024 KB"),
        (1024 * 1024, "1.0 MB"),
        (int(2.46 * 1024 * 1024), "2.5 MB"),
        (10 * 1024 * 1024, "10.0 MB"),
        (1024 * 1024 * 1024, "1024.0 MB"),  # a megabyte is 1024 x 1024 bytes, as a kilobyte is 1024
    ],
)
def test_sizes_are_shown_in_kilobytes_below_a_megabyte(size: int, shown: str) -> None:
    assert megabytes(size) == shown


@pytest.mark.parametrize(
    ("data", "extension", "label"),
    [
        (PDF, "pdf", "PDF"),
        (DOCX, "docx", "Word"),
        (PNG, "png", "PNG image"),
        (JPEG, "jpg", "JPEG image"),
    ],
)
def test_each_form_is_named_with_its_usual_extension_and_told_in_plain_words(
    data: bytes, extension: str, label: str
) -> None:
    """The extension names the attachment radiology receives (its mail client opens it by
    that); the label is what the user reads ("Form attached (PDF, 1.2 MB)")."""
    kind = identify(data)
    assert kind is not None
    assert (kind.extension, kind.label) == (extension, label)
    assert BY_EXTENSION[extension] is kind


def test_an_extension_that_is_not_an_accepted_kind_is_not_looked_up() -> None:
    assert {"exe", "docm", "PDF", "jpeg", "zip"}.isdisjoint(BY_EXTENSION)


def test_an_override_without_a_part_name_is_skipped_not_a_crash() -> None:
    """A form tool may write an odd override first; the Word document's own one still counts."""
    odd = '<Override ContentType="application/xml"/>'
    parts = {"[Content_Types].xml": _content_types(odd, _override()), "word/document.xml": "<w/>"}
    assert identify(_package(parts)) == DOCX_KIND
    alone = {"[Content_Types].xml": _content_types(odd), "word/document.xml": "<w/>"}
    assert identify(_package(alone)) is None


# --- settings and the allow-list -------------------------------------------------------


def test_file_settings_default_to_sharepoint_and_ten_megabytes() -> None:
    settings = Settings(_env_file=None, dev_mode=True)
    assert settings.file_download_hosts == ("*.sharepoint.com",)
    assert settings.file_max_bytes == 10 * 1024 * 1024


@pytest.mark.parametrize("bad", ["*", "*.com", "https://contoso.sharepoint.com", "a.com:443"])
def test_a_host_list_entry_that_is_not_a_host_refuses_to_start(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="FILE_DOWNLOAD_HOSTS"):
        Settings(_env_file=None, dev_mode=True, FILE_DOWNLOAD_HOSTS=bad)


@pytest.mark.parametrize(
    ("url", "dev_mode", "refusal"),
    [
        ("https://contoso-my.sharepoint.com/personal/x/download.aspx?UniqueId=1", False, None),
        ("https://CONTOSO.SharePoint.com./a", False, None),
        ("https://sharepoint.com/a", False, "host"),
        ("https://contoso.sharepoint.com.evil.example/a", False, "host"),
        ("https://evilsharepoint.com/a", False, "host"),
        ("https://user:pw@contoso.sharepoint.com/a", False, "host"),
        ("http://contoso.sharepoint.com/a", False, "scheme"),
        ("http://contoso.sharepoint.com/a", True, "scheme"),
        ("http://127.0.0.1:8000/a", True, None),
        ("http://127.0.0.1:8000/a", False, "scheme"),
        ("ftp://127.0.0.1/a", True, "scheme"),
        ("/relative/path", True, "host"),
    ],
)
def test_host_policy(url: str, dev_mode: bool, refusal: str | None) -> None:
    policy = HostPolicy(("*.sharepoint.com", "127.0.0.1"), dev_mode=dev_mode)
    assert policy.refusal(URL(url)) == refusal


# --- the downloader over real HTTP -------------------------------------------------------


def downloader(max_bytes: int = 1024 * 1024, **kwargs: Any) -> FileDownloader:
    return FileDownloader(HostPolicy(("127.0.0.1",), dev_mode=True), max_bytes=max_bytes, **kwargs)


async def fetch(url: str, **kwargs: Any) -> bytes:
    loader = downloader(**kwargs)
    try:
        return (await loader.fetch(FileOffer(name="x.pdf", url=url))).content
    finally:
        await loader.close()


async def refused(url: str, **kwargs: Any) -> DownloadRefused:
    with pytest.raises(DownloadRefused) as caught:
        await fetch(url, **kwargs)
    return caught.value


async def test_a_file_is_fetched_byte_for_byte(sharepoint: FileServer) -> None:
    sharepoint.files["form.pdf"] = PDF + bytes(range(256)) * 64
    assert await fetch(sharepoint.url("form.pdf")) == sharepoint.files["form.pdf"]


async def test_a_host_outside_the_list_is_never_contacted(elsewhere: FileServer) -> None:
    failure = await refused(elsewhere.url("form.pdf"))
    assert failure.reason == "host"
    assert elsewhere.requests == []


async def test_a_redirect_to_another_host_is_not_followed(
    sharepoint: FileServer, elsewhere: FileServer
) -> None:
    sharepoint.redirects["form.pdf"] = elsewhere.url("form.pdf")
    failure = await refused(sharepoint.url("form.pdf", "redirect"))
    assert failure.reason == "redirect"
    assert elsewhere.requests == []


async def test_a_redirect_on_the_same_host_is_followed(sharepoint: FileServer) -> None:
    sharepoint.files["form.pdf"] = PDF
    sharepoint.redirects["old.pdf"] = "/files/form.pdf"
    assert await fetch(sharepoint.url("old.pdf", "redirect")) == PDF


async def test_a_redirect_loop_ends(sharepoint: FileServer) -> None:
    sharepoint.redirects["loop.pdf"] = "/redirect/loop.pdf"
    assert (await refused(sharepoint.url("loop.pdf", "redirect"))).reason == "redirect"
    assert len(sharepoint.requests) == 4  # the first request and three redirects


async def test_too_large_by_content_length_is_refused_before_reading(
    sharepoint: FileServer,
) -> None:
    sharepoint.files["big.pdf"] = PDF + b"\x00" * 5000
    failure = await refused(sharepoint.url("big.pdf"), max_bytes=4096)
    assert failure.reason == "too_large" and "4 KB" in failure.message


async def test_too_large_without_a_length_is_refused_while_reading(sharepoint: FileServer) -> None:
    sharepoint.files["big.pdf"] = PDF + b"\x00" * 50_000
    failure = await refused(sharepoint.url("big.pdf", "chunked"), max_bytes=8192)
    assert failure.reason == "too_large"


async def test_too_large_by_the_attachments_own_size_is_never_requested(
    sharepoint: FileServer,
) -> None:
    loader = downloader(max_bytes=4096)
    offer = FileOffer(name="x.pdf", url=sharepoint.url("form.pdf"), declared_size=5000)
    with pytest.raises(DownloadRefused, match="too_large"):
        await loader.fetch(offer)
    await loader.close()
    assert sharepoint.requests == []


async def test_a_renamed_executable_is_refused_by_content(sharepoint: FileServer) -> None:
    sharepoint.files["form.pdf"] = EXE
    failure = await refused(sharepoint.url("form.pdf"))
    assert failure.reason == "type"
    assert "PDF" in failure.message and "Word" in failure.message and "JPEG" in failure.message


async def test_a_server_error_is_refused_with_a_message(sharepoint: FileServer) -> None:
    failure = await refused(sharepoint.url("missing.pdf"))
    assert failure.reason == "status" and "attach it again" in failure.message.lower()


async def test_a_slow_server_is_cut_off_at_the_time_limit(aiohttp_server) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(PDF[:4])
        await __import__("asyncio").sleep(5)
        return response

    app = web.Application()
    app.router.add_get("/slow", slow)
    server = await aiohttp_server(app)
    failure = await refused(str(server.make_url("/slow")), timeout_seconds=0.3)
    assert failure.reason == "timeout"


# --- https and the bot's token for pasted images ---------------------------------------------


@pytest.fixture
async def teams_https(aiohttp_server, tmp_path: Path) -> tuple[FileServer, ssl.SSLContext]:
    cert, key = self_signed_certificate(tmp_path, "connector")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    server = FileServer(files={"0-weu-d1-abc": PNG})
    started = await aiohttp_server(server.app(), ssl=server_tls)
    server.base_url = f"https://127.0.0.1:{started.port}"
    client_tls = ssl.create_default_context(cafile=str(cert))
    return server, client_tls


async def token() -> str:
    return "bot-token"


@pytest.mark.parametrize("teams_hosted", [True, False])
async def test_the_bots_token_goes_only_with_a_teams_hosted_image_over_https(
    teams_https: tuple[FileServer, ssl.SSLContext], teams_hosted: bool
) -> None:
    server, tls = teams_https
    loader = FileDownloader(HostPolicy(("127.0.0.1",), dev_mode=False), max_bytes=1 << 20, ssl=tls)
    url = f"{server.base_url}/v3/attachments/0-weu-d1-abc/views/original"
    offer = FileOffer(name="", url=url, type_hint="image/*", teams_hosted=teams_hosted)
    assert (await loader.fetch(offer, token)).content == PNG
    await loader.close()
    (seen,) = server.requests
    expected = "Bearer bot-token" if teams_hosted else None
    assert seen["headers"].get("Authorization") == expected


async def test_no_token_over_plain_http_even_for_a_teams_hosted_image(
    sharepoint: FileServer,
) -> None:
    sharepoint.files["0-x"] = PNG
    loader = downloader()
    url = sharepoint.url("0-x").replace("/files/", "/v3/attachments/") + "/views/original"
    await loader.fetch(FileOffer(name="", url=url, teams_hosted=True), token)
    await loader.close()
    assert "Authorization" not in sharepoint.requests[0]["headers"]


# --- what the Teams edge reads from an activity -----------------------------------------------

SERVICE = "https://smba.trafficmanager.net/uk/"


def offers(attachments: list[dict[str, Any]], service_url: str = SERVICE) -> tuple[FileOffer, ...]:
    activity = Activity().deserialize(
        {"type": "message", "serviceUrl": service_url, "attachments": attachments}
    )
    return file_offers(activity)


def test_a_file_upload_becomes_one_offer_with_its_download_url() -> None:
    (offer,) = offers(
        [
            {
                "contentType": "application/vnd.microsoft.teams.file.download.info",
                "contentUrl": "https://contoso-my.sharepoint.com/personal/x/Documents/f.pdf",
                "name": "f.pdf",
                "content": {
                    "downloadUrl": "https://contoso-my.sharepoint.com/download.aspx?tempauth=1",
                    "uniqueId": "1150D938",
                    "fileType": "pdf",
                },
            },
            {"contentType": "text/html", "content": "<p>kings ultrasound</p>"},
        ]
    )
    assert offer == FileOffer(
        name="f.pdf",
        url="https://contoso-my.sharepoint.com/download.aspx?tempauth=1",
        type_hint="pdf",
    )


def test_a_pasted_image_on_the_activitys_connector_is_teams_hosted() -> None:
    pasted = [
        {
            "contentType": "image/*",
            "contentUrl": f"{SERVICE}v3/attachments/0-weu-d8/views/original",
        },
        {
            "contentType": "text/html",
            "content": '<p><img src="https://eu-api.asm.skype.com/v1/objects/0-weu-d8/views/imgo"></p>',
        },
    ]
    (offer,) = offers(pasted)
    assert offer.teams_hosted and offer.url.startswith(SERVICE)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/uk/v3/attachments/0-weu-d8/views/original",
        "https://smba.trafficmanager.net/emea/v3/attachments/0-weu-d8/views/original",
        "http://smba.trafficmanager.net/uk/v3/attachments/0-weu-d8/views/original",
        "https://smba.trafficmanager.net/uk/v3/conversations/x",
    ],
)
def test_an_image_anywhere_else_gets_no_token(url: str) -> None:
    (offer,) = offers([{"contentType": "image/png", "contentUrl": url}])
    assert not offer.teams_hosted


def test_cards_html_and_broken_attachments_are_not_files() -> None:
    assert offers(
        [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": {}},
            {"contentType": "text/html", "content": "<p>hi</p>"},
            {"contentType": "image/*"},
        ]
    ) == (FileOffer(name="", url="", type_hint="image/*"),)


# --- the downloader's rules, one at a time -----------------------------------------------------

NOT_FETCHED = (
    "I couldn't fetch that file from Teams. Please attach it again in a moment; if it "
    "keeps failing, email the form yourself (type 'mailbox' to see where)."
)


async def _serve(aiohttp_server: Any, handler: Any, path: str = "/f") -> str:
    """A one-route loopback server; the URL of its route."""
    app = web.Application()
    app.router.add_get(path, handler)
    server = await aiohttp_server(app)
    return str(server.make_url(path))


async def test_every_refusal_tells_the_user_what_to_do_next(sharepoint: FileServer) -> None:
    """No dead end: a file not fetched names the way round (email it, 'mailbox'); one too
    large names the limit and a smaller copy; one of the wrong kind names the kinds."""
    assert (await refused(sharepoint.url("missing.pdf"))).message == NOT_FETCHED
    sharepoint.files["big.pdf"] = PDF + b"\x00" * 5000
    assert (await refused(sharepoint.url("big.pdf"), max_bytes=4096)).message == (
        "That file is larger than 4 KB, the most I accept for a form. Please attach a smaller "
        "copy (a PDF of the form, or a photo at a lower resolution)."
    )
    sharepoint.files["form.pdf"] = EXE
    assert (await refused(sharepoint.url("form.pdf"))).message == (
        "I can only send a PDF, a Word document (.docx), or a photo or scan as PNG or JPEG. "
        "That file is not one of these, so I have not sent it. Please attach the completed "
        "form in one of those formats."
    )


async def test_what_is_fetched_is_the_form_its_kind_size_and_digest(sharepoint: FileServer) -> None:
    """More than one read's worth (64 KB) arrives whole; the digest identifies the bytes."""
    body = PDF + bytes(range(256)) * 1024
    sharepoint.files["form.pdf"] = body
    loader = downloader()
    got = await loader.fetch(FileOffer(name="x.pdf", url=sharepoint.url("form.pdf", "chunked")))
    await loader.close()
    assert got.content == body and got.kind == PDF_KIND
    assert got.size == len(body) and got.sha256 == hashlib.sha256(body).hexdigest()
    assert loader.max_bytes == 1024 * 1024


@pytest.mark.parametrize("route", ["files", "chunked"])
async def test_a_file_of_exactly_the_limit_is_accepted(sharepoint: FileServer, route: str) -> None:
    sharepoint.files["form.pdf"] = PDF + b"\x00" * (4096 - len(PDF))
    loader = downloader(max_bytes=4096)
    offer = FileOffer(name="x.pdf", url=sharepoint.url("form.pdf", route), declared_size=4096)
    assert (await loader.fetch(offer)).size == 4096
    await loader.close()


async def test_a_url_with_spaces_in_the_file_name_is_fetched(sharepoint: FileServer) -> None:
    """Links carry the user's file name, spaces and all: they are encoded, not sent raw."""
    sharepoint.files["my form.pdf"] = PDF
    assert await fetch(sharepoint.url("my form.pdf")) == PDF
    assert await fetch(sharepoint.url("my%20form.pdf")) == PDF
    assert [seen["path"] for seen in sharepoint.requests] == ["/files/my form.pdf"] * 2


@pytest.mark.parametrize(
    ("url", "logged_host"),
    [
        ("http://127.0.0.2/files/Zebediahson%209990000018.pdf", "127.0.0.2"),
        ("/files/Zebediahson%209990000018.pdf", "-"),
    ],
)
async def test_a_refused_url_is_logged_by_its_host_and_reason_only(
    caplog: pytest.LogCaptureFixture, url: str, logged_host: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.files.download"):
        assert (await refused(url)).reason == "host"
    (record,) = caplog.records
    assert record.name == "bot.files.download"
    assert record.getMessage() == f"file download refused reason=host host={logged_host}"


async def test_a_url_that_cannot_be_read_is_refused_before_any_request() -> None:
    failure = await refused("https://[contoso.sharepoint.com/form.pdf")
    assert failure.reason == "host" and failure.message == NOT_FETCHED


async def test_a_server_that_cannot_be_reached_is_a_network_failure(
    caplog: pytest.LogCaptureFixture, unused_tcp_port: int
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.files.download"):
        failure = await refused(f"http://127.0.0.1:{unused_tcp_port}/form.pdf")
    assert failure.reason == "network" and failure.message == NOT_FETCHED
    (record,) = caplog.records
    assert record.getMessage() == "file download failed reason=network error=ClientConnectorError"


async def test_a_status_refusal_logs_the_status_only(
    caplog: pytest.LogCaptureFixture, sharepoint: FileServer
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.files.download"):
        await refused(sharepoint.url("Zebediahson.pdf"))
    assert [r.getMessage() for r in caplog.records] == [
        "file download refused reason=status status=404"
    ]


async def test_a_refused_redirect_logs_the_target_host_only(
    caplog: pytest.LogCaptureFixture, sharepoint: FileServer, elsewhere: FileServer
) -> None:
    sharepoint.redirects["form.pdf"] = elsewhere.url("Zebediahson.pdf")
    with caplog.at_level(logging.WARNING, logger="bot.files.download"):
        await refused(sharepoint.url("form.pdf", "redirect"))
    assert [r.getMessage() for r in caplog.records] == [
        "file download refused reason=redirect host=127.0.0.2"
    ]


async def test_the_file_is_asked_for_uncompressed(sharepoint: FileServer) -> None:
    """So the bytes counted against the limit are the bytes of the file."""
    await fetch(sharepoint.url("form.pdf"))
    assert sharepoint.requests[0]["headers"]["Accept-Encoding"] == "identity"


async def test_a_compressed_answer_is_not_expanded(aiohttp_server: Any) -> None:
    """A server that compresses anyway: a 2 MB bomb stays the 2 KB that arrived (and that is
    not a form), never 2 MB in memory."""
    bomb = gzip.compress(PDF + b"\x00" * (2 * 1024 * 1024))

    async def compressed(request: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

    failure = await refused(await _serve(aiohttp_server, compressed), max_bytes=1024 * 1024)
    assert failure.reason == "type"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_every_redirect_status_is_followed_on_the_same_host(
    aiohttp_server: Any, status: int
) -> None:
    async def moved(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": "/form"})

    async def form(request: web.Request) -> web.Response:
        return web.Response(body=PDF)

    app = web.Application()
    app.router.add_get("/old", moved)
    app.router.add_get("/form", form)
    server = await aiohttp_server(app)
    assert await fetch(str(server.make_url("/old"))) == PDF


@pytest.mark.parametrize("location", [None, "http://[form"])
async def test_a_redirect_to_nowhere_or_to_nonsense_is_refused(
    aiohttp_server: Any, location: str | None
) -> None:
    async def moved(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": location} if location else {})

    failure = await refused(await _serve(aiohttp_server, moved))
    assert failure.reason == "redirect" and failure.message == NOT_FETCHED


async def test_a_redirect_to_another_port_of_an_allowed_host_is_not_followed(
    aiohttp_server: Any, sharepoint: FileServer
) -> None:
    """Same host name, other port: another service, so not followed, even though the host is
    on the list."""
    other = await serve_files(aiohttp_server, {"form.pdf": PDF})
    sharepoint.redirects["form.pdf"] = other.url("form.pdf")
    assert (await refused(sharepoint.url("form.pdf", "redirect"))).reason == "redirect"
    assert other.requests == []


async def test_no_cookie_is_kept_from_one_download_to_the_next(aiohttp_server: Any) -> None:
    cookies: list[str | None] = []

    async def tracking(request: web.Request) -> web.Response:
        cookies.append(request.headers.get("Cookie"))
        response = web.Response(body=PDF)
        response.set_cookie("session", "user-a")
        return response

    # By name, not by address: a cookie jar would ignore cookies from an IP address.
    url = (await _serve(aiohttp_server, tracking)).replace("127.0.0.1", "localhost")
    loader = FileDownloader(HostPolicy(("localhost",), dev_mode=True), max_bytes=1 << 20)
    for _ in range(2):
        await loader.fetch(FileOffer(name="x.pdf", url=url))
    await loader.close()
    assert cookies == [None, None]


async def test_a_proxy_from_the_environment_is_not_used(
    sharepoint: FileServer, monkeypatch: pytest.MonkeyPatch, unused_tcp_port: int
) -> None:
    """The download goes straight to the allowed host, never through whatever proxy the
    environment names (which would see the link and the file)."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{unused_tcp_port}")
    assert await fetch(sharepoint.url("form.pdf")) == sharepoint.files["form.pdf"]


async def test_a_certificate_the_machine_does_not_trust_is_refused(
    teams_https: tuple[FileServer, ssl.SSLContext],
) -> None:
    """By default the system's CAs decide: a self-signed server is never read."""
    server, _ = teams_https
    loader = FileDownloader(HostPolicy(("127.0.0.1",), dev_mode=False), max_bytes=1 << 20)
    offer = FileOffer(name="", url=f"{server.base_url}/v3/attachments/0-weu-d1-abc/views/original")
    with pytest.raises(DownloadRefused) as caught:
        await loader.fetch(offer)
    await loader.close()
    assert caught.value.reason == "network"


async def test_a_download_is_bounded_well_within_teams_resend_by_default(
    sharepoint: FileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Teams resends a message after about 15 s; the whole download must end before that."""
    armed: list[float | None] = []
    real = asyncio.timeout

    def spy(delay: float | None) -> asyncio.Timeout:
        armed.append(delay)
        return real(delay)

    monkeypatch.setattr(asyncio, "timeout", spy)
    loader = FileDownloader(HostPolicy(("127.0.0.1",), dev_mode=True), max_bytes=1 << 20)
    await loader.fetch(FileOffer(name="x.pdf", url=sharepoint.url("form.pdf")))
    await loader.close()
    # The first deadline armed is the downloader's own (aiohttp arms others inside it).
    assert armed and armed[0] is not None and 0 < armed[0] < 15


@pytest.mark.parametrize(
    ("url", "dev_mode", "refusal"),
    [
        ("https://user@contoso.sharepoint.com/a", False, "host"),  # a user name alone
        ("http://localhost:8000/a", True, None),
        ("http://LocalHost.:8000/a", True, None),
        ("http://localhost:8000/a", False, "scheme"),
        ("http://[::1]:8000/a", True, None),
    ],
)
def test_host_policy_names_and_loopback(url: str, dev_mode: bool, refusal: str | None) -> None:
    policy = HostPolicy(("*.sharepoint.com", "localhost", "::1"), dev_mode=dev_mode)
    assert policy.refusal(URL(url)) == refusal


def test_a_wildcard_never_matches_an_ip_address() -> None:
    policy = HostPolicy(("*.0.0.1",), dev_mode=True)
    assert policy.refusal(URL("http://127.0.0.1/a")) == "host"
