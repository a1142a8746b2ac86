"""Errors as application/problem+json under /api (RFC 9457) and as an accessible HTML page elsewhere."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from threshold.errors import DecodeError, ProtocolError, QuorumError, VerificationError
from voting.voters_csv import VoterListError

PROBLEM_TYPE = "application/problem+json"


def problem(status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None) -> Response:
    """A problem+json response; `errors` lists {field, message} for validation failures."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_TYPE
    return response


class InputErrors(QuorumError):
    """Several fields of one request rejected at once (each a DecodeError or a voter list's rows), so that a form or
    an API client learns every mistake in one round trip."""

    def __init__(self, problems: list[QuorumError]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def field_errors(exc: QuorumError) -> list[dict[str, str]]:
    """The {field, message} list of a rejected input (row-numbered for voter lists)."""
    if isinstance(exc, InputErrors):
        return [error for problem in exc.problems for error in field_errors(problem)]
    if isinstance(exc, DecodeError):
        return [{"field": exc.field, "message": exc.message}]
    if isinstance(exc, VoterListError):
        return [{"field": exc.field, "message": str(m)} for m in exc.errors]
    return [{"field": "", "message": str(exc)}]


def _status_of(exc: QuorumError) -> tuple[int, str]:
    if isinstance(exc, ProtocolError):
        return 409, "Conflict"
    if isinstance(exc, VerificationError):
        return 422, "Verification failed"
    return 422, "Invalid input"


def _wants_problem() -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def init_errors(app: Flask) -> None:
    """Register the handlers: HTTP errors and Quorum's own rejections."""

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response | tuple[str, int]:
        status = exc.code or 500
        if _wants_problem():
            response = problem(status, exc.name, exc.description or exc.name)
            if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
                response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
            if getattr(exc, "retry_after", None):
                response.headers["Retry-After"] = str(exc.retry_after)  # type: ignore[attr-defined]
            return response
        return render_template("error.html", status=status, title=exc.name, detail=exc.description), status

    @app.errorhandler(QuorumError)
    def _quorum(exc: QuorumError) -> Response | tuple[str, int]:
        status, title = _status_of(exc)
        errors = field_errors(exc)
        if _wants_problem():
            return problem(status, title, "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors), errors)
        return render_template("error.html", status=status, title=title, errors=errors), status
