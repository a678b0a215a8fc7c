"""The privacy portal at ``/privacy`` (API.md §3): customers ask for an export or the erasure of
their data, prove with a mailed one-time code that the address is theirs, then download the
export once or receive the deletion certificate. HTML forms for a person (CSRF-protected),
JSON for a program, on the same URLs.

No account enumeration: an unknown address gets the same ``202``, an id and a request that
behaves like any other, only no message goes out. Mail over SMTP is handed to a background
thread so that its latency cannot tell the two apart; the outbox folder is written at once.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

import marshmallow as ma
from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    make_response,
    render_template,
    request,
)
from flask_babel import format_datetime, gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, SelectChoice, SelectMultipleField, StringField, widgets
from wtforms.validators import DataRequired, Length

from vault import runtime, services
from vault.api.errors import flatten_messages
from vault.api.public_urls import base_url, external_url
from vault.errors import ValidationFailed
from vault.extensions import limiter
from vault.governance.models import PRIVACY_REQUEST_TYPES, PrivacyRequest
from vault.logs import get_logger
from vault.portal.language import current_language, keep_language
from vault.privacy.desk import MAX_CODE_ATTEMPTS
from vault.privacy.documents import signature_holds
from vault.privacy.outcomes import InvalidCode, RequestLocked, digest_token
from vault.privacy.portal import PrivacyPortal

blueprint = Blueprint("privacy", __name__, url_prefix="/privacy", template_folder="templates")
blueprint.after_request(keep_language)


@blueprint.context_processor
def branding() -> dict[str, Any]:
    """Who runs the portal (settings): on every page."""
    settings = runtime.settings()
    return {"organisation": {
        "name": settings.organisation_name, "contact": settings.organisation_contact,
        "dpo": settings.dpo_contact, "notice": settings.privacy_notice_url,
    }}  # fmt: skip


log = get_logger("vault.privacy")
DOWNLOAD_COOKIE = "vault_privacy_download"


class RequestForm(FlaskForm):
    email = EmailField(lazy_gettext("E-mail address"),
                       validators=[DataRequired(), Length(max=320)])  # fmt: skip
    type = RadioField(
        lazy_gettext("Request"),
        choices=[
            SelectChoice("export", lazy_gettext("A copy of my data")),
            SelectChoice("erasure", lazy_gettext("Erase my data")),
            SelectChoice("withdraw_consent", lazy_gettext("Withdraw my consent")),
        ],
        default="export",
        validators=[DataRequired()],
    )

    purposes = SelectMultipleField(
        lazy_gettext("Which consents?"), validate_choice=False,
        widget=widgets.ListWidget(prefix_label=False), option_widget=widgets.CheckboxInput(),
    )  # fmt: skip


class CodeForm(FlaskForm):
    code = StringField(lazy_gettext("Code"), validators=[DataRequired(), Length(max=32)])


class RequestInSchema(ma.Schema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(min=3, max=320))
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(PRIVACY_REQUEST_TYPES))
    purposes = ma.fields.List(ma.fields.String(validate=ma.validate.Length(max=64)),
                              load_default=list, validate=ma.validate.Length(max=20))  # fmt: skip


class CodeInSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32))


def _rate_limit() -> str:
    limit: str = runtime.settings().privacy_rate_limit
    return limit


def _wants_json() -> bool:
    if request.method == "POST":
        return request.is_json
    # a browser asks for HTML first; a program sending */*, JSON or no Accept gets JSON
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best != "text/html"


def _json_body(schema: ma.Schema) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema.load(request.get_json(silent=False) or {})
    except ma.ValidationError as exc:
        raise ValidationFailed(errors=flatten_messages(exc.messages)) from None
    return loaded


def _portal() -> PrivacyPortal:
    return services.privacy_portal(base_url=base_url(), language=current_language())


def _view(item: PrivacyRequest, download_url: str | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": item.id,
        "type": item.type,
        "status": item.status,
        "reason": item.reason,
        "received_at": item.received_at.isoformat(),
        "due_at": item.due_at.isoformat(),
    }
    if item.type == "withdraw_consent":
        view["purposes"] = item.purposes.split()
    if download_url:
        view["download_url"] = download_url
        assert item.download_expires_at is not None
        view["download_expires_at"] = item.download_expires_at.isoformat()
        if not _wants_json():  # a person reads it in their language
            view["download_expires_shown"] = format_datetime(item.download_expires_at, "medium")
    if item.certificate:
        view["certificate"] = _portal().certificate(item)
    return view


def _download_from_cookie(item: PrivacyRequest) -> str | None:
    """The link of an export still to download, for the client that verified the request
    (it holds the link's token in a cookie): knowing a request id alone shows no link."""
    token = request.cookies.get(DOWNLOAD_COOKIE, "")
    if not token or item.download_digest is None or item.downloaded_at is not None:
        return None
    if not hmac.compare_digest(digest_token(token), item.download_digest):
        return None
    expires = item.download_expires_at
    if expires is None or runtime.now() > expires:
        return None
    return external_url("privacy.download", token=token)


def _answer(item: PrivacyRequest, status: int, *, download_url: str | None = None,
            form: FlaskForm | None = None, error: str | None = None) -> Response:  # fmt: skip
    view = _view(item, download_url)
    if _wants_json():
        response = jsonify(view)
    else:
        body = render_template(
            "privacy/request.html", item=view, form=form or CodeForm(), error=error
        )
        response = make_response(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the pages and their JSON --------------------------------------------------------------


@blueprint.get("")
@blueprint.get("/")
def index() -> Response:
    """The request form."""
    body = render_template("privacy/index.html", form=_request_form(), error=None)
    return make_response(body)


@blueprint.post("/requests")
@limiter.limit(_rate_limit)
def submit() -> Response:
    """``{"email", "type"}`` -> ``202 {"id", "status"}``, whatever the address."""
    began = time.perf_counter()
    form = None
    if request.is_json:
        body = _json_body(RequestInSchema())
        email, kind, purposes = body["email"], body["type"], body["purposes"]
    else:
        form = _request_form()
        if not form.validate_on_submit():
            page = render_template("privacy/index.html", form=form, error=_form_error(form))
            return make_response(page, 422)
        email, kind = form.email.data or "", form.type.data or ""
        purposes = list(form.purposes.data or []) if kind == "withdraw_consent" else []
    try:
        # committed, and the message out within the floor
        item = _portal().submit(email, kind, purposes)
    except ValidationFailed as exc:
        if form is None:
            raise
        # said beside the field, in the page's language; nothing typed is lost
        if "purposes" in (exc.errors or {}):
            form.purposes.errors = [gettext("Choose the consents to withdraw.")]
        else:
            form.email.errors = [gettext("Enter an e-mail address, such as name@example.com.")]
        page = render_template("privacy/index.html", form=form, error=None)
        return make_response(page, exc.status)
    # A known address costs a message more than an unknown one: answer both no sooner than
    # the floor, so that the time taken does not tell them apart (bench/privacy.py).
    floor = runtime.settings().privacy_response_floor_ms / 1000
    time.sleep(max(0.0, floor - (time.perf_counter() - began)))
    if request.is_json:
        response = jsonify({"id": item.id, "status": item.status})
        response.status_code = 202
        return response
    return _answer(item, 202)


@blueprint.get("/requests/<request_id>")
def status(request_id: str) -> Response:
    """``{"id", "type", "status", "reason"}`` (and the download link or the certificate)."""
    item = _portal().request(request_id)
    return _answer(item, 200, download_url=_download_from_cookie(item))


@blueprint.post("/requests/<request_id>/verify")
@limiter.limit(_rate_limit)
def verify(request_id: str) -> Response:
    """``{"code"}``: the request proceeds; a wrong code counts, five lock the request."""
    form = None
    if request.is_json:
        code = _json_body(CodeInSchema())["code"]
    else:
        form = CodeForm()
        if not form.validate_on_submit():
            item = _portal().request(request_id)
            return _answer(item, 422, form=form, error=_form_error(form))
        code = form.code.data or ""
    result = _portal().verify(request_id, code)  # committed: a failed attempt counts too
    item = result.request
    if result.refusal == "locked":
        raise RequestLocked("too many wrong codes: this request is locked; make a new one")
    if not result.accepted:
        left = max(MAX_CODE_ATTEMPTS - item.failed_attempts, 0)
        detail = f"the code is wrong or has expired; {left} attempts left"
        if request.is_json:
            raise InvalidCode(detail, extra={"attempts_left": left})
        shown = gettext("The code is wrong or has expired; %(left)d attempts left.", left=left)
        return _answer(item, 422, form=form, error=shown)
    url = None
    if result.download_url:
        token = result.download_url.rsplit("/", 1)[1]
        url = external_url("privacy.download", token=token)
    response = _answer(item, 200, download_url=url)
    if url:
        response.set_cookie(
            DOWNLOAD_COOKIE, url.rsplit("/", 1)[1], max_age=7 * 86400,
            path=f"/privacy/requests/{item.id}", httponly=True, samesite="Strict",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )  # fmt: skip
    return response


@blueprint.get("/downloads/<token>")
def download(token: str) -> Response:
    """The export's ZIP, once; the link is spent when the download starts."""
    # the link is spent (or its refusal recorded) before a byte leaves
    request_id, body = _portal().download(token)
    name = f"vault-export-{request_id}.zip"
    response = Response(body, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/manifests/verify")
@limiter.limit(_rate_limit)
def verify_manifest() -> Response:
    """Post an export's ``manifest.json``: ``{"genuine": true}`` when the vault signed it
    unaltered (compare the files' SHA-256 with the manifest's to check the files)."""
    manifest = request.get_json(silent=True)
    if not isinstance(manifest, dict):
        raise ValidationFailed(errors={"manifest": ["send the export's manifest.json as JSON"]})
    return jsonify({"genuine": signature_holds(runtime.customer_store(), manifest)})


# The shipped consent-based purposes as a customer reads them; a purpose an admin adds shows
# its code.
PURPOSE_LABELS = {"marketing": lazy_gettext("Marketing: offers and newsletters")}


def _request_form() -> RequestForm:
    """The request form, offering the purposes a customer may have consented to."""
    form = RequestForm()
    form.purposes.choices = [(code, PURPOSE_LABELS.get(code, code))
                             for code in services.consent_purposes()]  # fmt: skip
    return form


def _form_error(form: FlaskForm) -> str:
    if form.errors.get("csrf_token"):
        return str(gettext("The form expired; please try again."))
    names = ", ".join(sorted(str(form[n].label.text) for n in form.errors if n != "csrf_token"))
    return str(gettext("Please check: %(names)s.", names=names))
