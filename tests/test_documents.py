"""Issue 14, "Documents in": records, lab results, ECGs and letters received, filed on a client's
chart (kapflow.documents). A file is judged by its content, kept under a name that says nothing
about the client, served only to the client's clinicians as an audited attachment, and never
changed or deleted afterwards."""

import datetime
import hashlib
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.test import Client as HttpClient
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from kapflow.audit.models import AuditEvent
from kapflow.clients.models import OutsideProvider
from kapflow.documents import files, selectors, services
from kapflow.documents.models import ChartDocument
from tests.matrix_documents import PDF, make_document

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
TIFF = b"II*\x00\x08\x00\x00\x00\x00\x00"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


def _upload(name, content, content_type="application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def _form(name="scan.pdf", content=PDF, content_type="application/pdf", **fields):
    return {
        "kind": ChartDocument.Kind.LAB_RESULTS,
        "title": "Metabolic panel, March",
        "received_from": "Valley Labs",
        "dated": "2026-03-02",
        "file": _upload(name, content, content_type),
    } | fields


def _new_url(client):
    return reverse("documents:new", args=[client.pk])


def _stored_files(client) -> set[str]:
    """The files kept under the client's folder (the run's media folder outlives each test, and
    client numbers repeat between tests: compare before and after)."""
    folder = f"documents/{client.pk}"
    return set(default_storage.listdir(folder)[1]) if default_storage.exists(folder) else set()


# Uploading


@pytest.mark.parametrize(
    "name, content, declared, content_type, extension",
    [
        ("panel.pdf", PDF, "application/pdf", "application/pdf", ".pdf"),
        ("ecg.png", PNG, "image/png", "image/png", ".png"),
        ("letter.jpeg", JPEG, "image/jpeg", "image/jpeg", ".jpg"),
        ("fax.tif", TIFF, "image/tiff", "image/tiff", ".tif"),
        # A name without an ending and a browser that declares nothing useful: the content decides.
        ("records", PDF, "application/octet-stream", "application/pdf", ".pdf"),
    ],
)
def test_it_files_each_kind_of_file_by_its_content(
    avery, tess, login, name, content, declared, content_type, extension
):
    before = _stored_files(avery)
    response = login(tess).post(_new_url(avery), _form(name, content, declared))
    document = ChartDocument.objects.get(client=avery)
    assert response.status_code == 302
    assert response["Location"] == reverse("documents:detail", args=[avery.pk, document.pk])
    assert (document.content_type, document.extension, document.size) == (
        content_type,
        extension,
        len(content),
    )
    assert document.original_name == name
    assert document.title == "Metabolic panel, March"
    assert document.received_from == "Valley Labs"
    assert document.dated == datetime.date(2026, 3, 2)
    assert document.uploaded_by == tess
    with default_storage.open(document.file.name, "rb") as stored:
        assert stored.read() == content
    assert document.sha256 == hashlib.sha256(content).hexdigest()
    assert _stored_files(avery) - before == {document.file.name.rsplit("/", 1)[1]}
    row = AuditEvent.objects.get(action="kapflow.documents.document.filed")
    assert (row.actor, row.client, row.object_id) == (tess, avery, str(document.pk))


def test_no_stored_path_carries_the_clients_name_or_the_files(avery, tess, login):
    login(tess).post(_new_url(avery), _form("Avery Alvarez bloods.pdf"))
    document = ChartDocument.objects.get(client=avery)
    path = document.file.name.lower()
    assert path.startswith(f"documents/{avery.pk}/") and path.endswith(".pdf")
    for word in (avery.first_name, avery.last_name, "bloods", "panel", "metabolic"):
        assert word.lower() not in path


@pytest.mark.parametrize(
    "name, content, content_type, words",
    [
        ("setup.exe", EXE, "application/x-msdownload", "is not a PDF, PNG, JPEG or TIFF file"),
        ("clearance.pdf", EXE, "application/pdf", "is not a PDF, PNG, JPEG or TIFF file"),
        ("clearance.pdf", HTML, "application/pdf", "is not a PDF, PNG, JPEG or TIFF file"),
        ("page.html", HTML, "text/html", "is not a PDF, PNG, JPEG or TIFF file"),
        ("ecg.pdf", PNG, "application/pdf", "is labelled as a PDF file but its content is a PNG"),
        ("ecg.png", JPEG, "image/jpeg", "is labelled as a PNG file but its content is a JPEG"),
        ("ecg", PNG, "application/pdf", "is labelled as a PDF file but its content is a PNG"),
        ("empty.pdf", b"", "application/pdf", "is empty (0 bytes)"),
    ],
)
def test_it_refuses_a_file_by_its_content_and_the_form_comes_back(
    avery, tess, login, name, content, content_type, words
):
    before = _stored_files(avery)
    response = login(tess).post(_new_url(avery), _form(name, content, content_type))
    assert response.status_code == 200
    page = response.content.decode()
    assert words in page
    assert "Metabolic panel, March" in page and "Valley Labs" in page  # what was typed comes back
    assert not ChartDocument.objects.filter(client=avery).exists()
    assert _stored_files(avery) == before
    assert not AuditEvent.objects.filter(action="kapflow.documents.document.filed").exists()


def test_a_file_over_the_limit_is_refused_with_the_form_and_never_stored(avery, tess, login, settings):
    settings.UPLOAD_MAX_MB = 1
    big = PDF + b"0" * files.MEGABYTE  # one megabyte and a few bytes
    before = _stored_files(avery)
    response = login(tess).post(_new_url(avery), _form("big.pdf", big))
    assert response.status_code == 200
    page = response.content.decode()
    assert "This file is too large; the most kapflow accepts is 1 MB." in page
    assert "Metabolic panel, March" in page
    assert "This field is required" not in page
    assert not ChartDocument.objects.exists() and _stored_files(avery) == before


def test_a_file_over_the_default_limit_gets_the_form_not_an_error_page(avery, tess, login, settings):
    """Django's own limits (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB) do not apply to a file: a file
    over kapflow's default limit (20 MB) reaches the form, which says what is wrong."""
    assert settings.UPLOAD_MAX_MB == 20
    response = login(tess).post(_new_url(avery), _form("scan.pdf", PDF + b"0" * (20 * files.MEGABYTE)))
    assert response.status_code == 200
    assert "the most kapflow accepts is 20 MB" in response.content.decode()
    assert not ChartDocument.objects.exists()


def test_a_file_just_at_the_limit_is_filed(avery, tess, login, settings):
    settings.UPLOAD_MAX_MB = 1
    exact = PDF + b"0" * (files.MEGABYTE - len(PDF))
    assert login(tess).post(_new_url(avery), _form("exact.pdf", exact)).status_code == 302
    assert ChartDocument.objects.get(client=avery).size == files.MEGABYTE


def test_the_size_limit_holds_without_the_upload_handler(settings):
    """The service checks the size itself: a caller that did not go through the form."""
    settings.UPLOAD_MAX_MB = 1
    with pytest.raises(ValidationError, match=r"This file is 1\.0 MB; the most kapflow accepts is 1 MB"):
        files.inspect(_upload("big.pdf", PDF + b"0" * files.MEGABYTE))


def test_the_size_limit_handler_throws_the_file_away_as_it_arrives(settings):
    settings.UPLOAD_MAX_MB = 1
    request = RequestFactory().post("/")
    handler = files.SizeLimit(request)
    assert handler.receive_data_chunk(b"x" * 1000, 0) == b"x" * 1000
    with pytest.raises(files.SkipFile):
        handler.receive_data_chunk(b"x" * 1000, files.MEGABYTE - 10)
    assert files.upload_was_too_large(request)


def test_the_upload_form_still_checks_the_csrf_token(avery, tess):
    http = HttpClient(enforce_csrf_checks=True)
    http.force_login(tess)
    assert http.post(_new_url(avery), _form()).status_code == 403
    assert not ChartDocument.objects.exists()


def test_a_date_on_the_document_in_the_future_is_refused(avery, tess, login):
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    response = login(tess).post(_new_url(avery), _form(dated=tomorrow.isoformat()))
    assert response.status_code == 200
    assert "This date is in the future" in response.content.decode()


def test_the_sender_may_be_one_of_the_clients_outside_providers_only(avery, olive, tess, login):
    own = OutsideProvider.objects.create(client=avery, name="Dr. Okafor", kind="psychiatrist")
    other = OutsideProvider.objects.create(client=olive, name="Dr. Elsewhere", kind="psychiatrist")
    http = login(tess)
    form_page = http.get(_new_url(avery)).content.decode()
    assert "Dr. Okafor" in form_page and "Dr. Elsewhere" not in form_page
    response = http.post(_new_url(avery), _form(provider=other.pk, kind="clearance"))
    assert response.status_code == 200 and not ChartDocument.objects.exists()
    http.post(_new_url(avery), _form(provider=own.pk, kind="clearance", received_from=""))
    assert ChartDocument.objects.get(client=avery).provider == own


def test_the_service_files_for_clinicians_only(avery, cora, tess):
    request = RequestFactory().post("/")
    request.user = cora
    with pytest.raises(PermissionDenied):
        services.file_document(
            request=request, client=avery, kind="letter", title="Letter", upload=_upload("a.pdf", PDF)
        )
    request.user = tess
    with pytest.raises(ValidationError, match="not a PDF, PNG, JPEG or TIFF"):
        services.file_document(
            request=request, client=avery, kind="letter", title="Letter", upload=_upload("a.pdf", HTML)
        )
    assert not ChartDocument.objects.exists()


# Reading and downloading


def test_the_client_clinicians_list_and_open_documents_and_each_read_is_audited(avery, tess, priya, login):
    document = make_document(avery, tess, title="ECG, January", kind="ecg")
    for who in (tess, priya):
        http = login(who)
        listing = http.get(reverse("documents:list", args=[avery.pk]))
        assert "ECG, January" in listing.content.decode()
        detail = http.get(reverse("documents:detail", args=[avery.pk, document.pk]))
        assert document.sha256 in detail.content.decode()
    assert AuditEvent.objects.filter(action="kapflow.documents.list.viewed", client=avery).count() == 2
    assert AuditEvent.objects.filter(action="kapflow.documents.document.viewed", client=avery).count() == 2


def test_a_download_is_an_audited_attachment_of_the_type_its_content_is(avery, tess, login):
    login(tess).post(_new_url(avery), _form("report.html", PDF, "text/html"))
    document = ChartDocument.objects.get(client=avery)
    http = login(tess)
    url = reverse("documents:download", args=[avery.pk, document.pk])
    for _ in range(2):
        response = http.get(url)
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    # Saved as what it is: a PDF named .html would open as a web page.
    assert response["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert "no-store" in response["Cache-Control"]
    rows = AuditEvent.objects.filter(action="kapflow.documents.document.downloaded")
    assert [(row.actor, row.client, row.object_id) for row in rows] == [(tess, avery, str(document.pk))] * 2


def test_no_file_has_a_public_address(avery, tess, login):
    document = make_document(avery, tess)
    http = login(tess)
    for prefix in ("/", "/media/", "/static/", "/var/media/"):
        assert http.get(prefix + document.file.name).status_code == 404


@pytest.mark.parametrize("name", ["documents:list", "documents:detail", "documents:download"])
def test_outside_the_clients_care_it_is_404_and_audited_as_refused(
    avery, tess, colin, cora, ada, login, name
):
    document = make_document(avery, tess)
    kwargs = {"client_id": avery.pk} | ({"document_id": document.pk} if name != "documents:list" else {})
    for who in (colin, cora, ada):
        assert login(who).get(reverse(name, kwargs=kwargs)).status_code == 404
    refused = AuditEvent.objects.filter(action="kapflow.audit.access.denied", client=avery)
    assert refused.count() == 3
    assert not AuditEvent.objects.filter(action="kapflow.documents.document.downloaded").exists()


def test_a_document_of_another_client_is_not_found_under_this_clients_address(
    avery, olive, tess, colin, login
):
    olives = make_document(olive, colin)
    http = login(tess)
    assert http.get(reverse("documents:detail", args=[avery.pk, olives.pk])).status_code == 404
    assert http.get(reverse("documents:download", args=[avery.pk, olives.pk])).status_code == 404


def test_the_upload_form_is_for_clinicians_on_the_care_team(avery, colin, cora, ada, login):
    assert login(cora).get(_new_url(avery)).status_code == 403
    assert login(ada).get(_new_url(avery)).status_code == 403
    assert login(colin).get(_new_url(avery)).status_code == 404
    assert login(colin).post(_new_url(avery), _form()).status_code == 404
    assert not ChartDocument.objects.exists()


def test_a_file_missing_from_storage_gives_a_clear_page(avery, tess, login):
    document = make_document(avery, tess, title="Outside records")
    default_storage.delete(document.file.name)
    response = login(tess).get(reverse("documents:download", args=[avery.pk, document.pk]))
    assert response.status_code == 503
    page = response.content.decode()
    assert "file is not available" in page and "Outside records" in page
    assert AuditEvent.objects.filter(
        action="kapflow.documents.document.file_missing", object_id=str(document.pk)
    ).exists()


# The chart, and the helper for transcribing


def test_the_chart_shows_the_latest_documents_to_the_clinicians_only(avery, tess, cora, login):
    for n in range(selectors.CHART_CARD_DOCUMENTS + 1):
        make_document(avery, tess, title=f"Letter number {n}", kind="letter")
    page = login(tess).get(reverse("clients:chart", args=[avery.pk])).content.decode()
    assert 'id="documents-h"' in page and reverse("documents:new", args=[avery.pk]) in page
    assert "Letter number 5" in page and "Letter number 0" not in page  # the newest few
    coordinator_page = login(cora).get(reverse("clients:chart", args=[avery.pk])).content.decode()
    assert 'id="documents-h"' not in coordinator_page and "Letter number" not in coordinator_page


def test_documents_for_filing_lists_the_kinds_asked_for_newest_first(avery, olive, tess, colin):
    older = make_document(avery, tess, title="Clearance letter", kind="clearance")
    make_document(avery, tess, title="Labs", kind="lab_results")
    newer = make_document(avery, tess, title="Prescription", kind="prescription")
    make_document(olive, colin, title="Olive's clearance", kind="clearance")
    found = selectors.documents_for_filing(
        avery, [ChartDocument.Kind.CLEARANCE, ChartDocument.Kind.PRESCRIPTION]
    )
    assert list(found) == [newer, older]
    assert list(selectors.documents_for_filing(avery, [])) == []


# Never changed or deleted


def _refused(statement, params):
    with (
        pytest.raises(DatabaseError, match="signed clinical record"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, params)


def test_a_filed_document_refuses_update_and_delete_at_the_database(avery, tess, priya):
    document = make_document(avery, tess)
    _refused("UPDATE documents_chartdocument SET title = 'rewritten' WHERE id = %s", [document.pk])
    _refused("UPDATE documents_chartdocument SET file = 'documents/other.pdf' WHERE id = %s", [document.pk])
    _refused("UPDATE documents_chartdocument SET uploaded_by_id = %s WHERE id = %s", [priya.pk, document.pk])
    _refused("DELETE FROM documents_chartdocument WHERE id = %s", [document.pk])
    assert ChartDocument.objects.get(pk=document.pk).title == "Metabolic panel"


def test_an_outside_provider_taken_off_the_chart_leaves_the_document(avery, tess, login):
    provider = OutsideProvider.objects.create(client=avery, name="Dr. Okafor", kind="psychiatrist")
    other = OutsideProvider.objects.create(client=avery, name="Dr. Other", kind="psychiatrist")
    http = login(tess)
    url = reverse("clients:contact_remove", args=[avery.pk, "providers", provider.pk])
    # Filed with the provider, through the form, so the row points at them.
    http.post(_new_url(avery), _form(provider=provider.pk, title="From Dr. Okafor", received_from=""))
    filed = ChartDocument.objects.get(title="From Dr. Okafor")
    # The link may only be cleared (ON DELETE SET NULL), never pointed at someone else.
    _refused("UPDATE documents_chartdocument SET provider_id = %s WHERE id = %s", [other.pk, filed.pk])
    assert http.post(url).status_code == 302
    filed.refresh_from_db()
    assert filed.provider is None and filed.title == "From Dr. Okafor"
    assert filed.received_from == "Dr. Okafor"  # who sent it is still said


def test_the_file_inspection_reads_only_the_first_bytes_to_judge_the_kind():
    assert files.kind_of(PDF[: files.HEAD_BYTES]).name == "PDF"
    assert files.kind_of(b"MM\x00*" + b"\x00" * 8).name == "TIFF"
    assert files.kind_of(b"\x89PNG\r\n\x1a\n") is None  # a PNG signature without its header chunk
    assert files.kind_of(io.BytesIO(HTML).read(files.HEAD_BYTES)) is None
    assert files.shown_name("C:\\Users\\me\\scan\x00.pdf") == "scan.pdf"
    assert files.shown_name("../../etc/passwd") == "passwd"
