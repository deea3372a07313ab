"""Every log record is masked where it is made — whatever logger, handler or formatter later writes it — and the
server's logging configuration (uvicorn's access log included) puts the masking filter on every handler."""

from __future__ import annotations

import io
import logging
import logging.config
from collections.abc import Iterator

import pytest

from zhili.core.masking import MaskingLogFilter

ID = "33052219530323642X"
PHONE = "13812345678"


@pytest.fixture
def stream_logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger that does not propagate, with a handler of its own and no filter (as uvicorn.access is)."""
    from uvicorn.logging import AccessFormatter

    from zhili.app import create_app

    create_app()  # what the application installs when it starts
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False))
    logger = logging.getLogger("test.uvicorn.access.standin")
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    yield logger, out
    logger.handlers = []


def test_an_access_log_line_with_personal_numbers_in_the_query_string_is_masked(stream_logger) -> None:
    logger, out = stream_logger
    logger.info('%s - "%s %s HTTP/%s" %d', "10.0.0.1:5000", "GET",
                f"/api/v1/registry/persons?id_number={ID}&phone={PHONE}", "1.1", 200)
    line = out.getvalue()
    assert ID not in line and PHONE not in line
    assert "3305**********642X" in line and "138****5678" in line and '"GET /api/v1/registry/persons?' in line


def test_a_child_loggers_message_arguments_and_traceback_are_masked(stream_logger) -> None:
    logger, out = stream_logger
    logger.handlers[0].setFormatter(logging.Formatter("%(message)s"))
    try:
        raise ValueError(f"bad id {ID}")
    except ValueError:
        logger.exception("lookup of %s failed (%s)", PHONE, {"id": ID})
    text = out.getvalue()
    assert ID not in text and PHONE not in text and "ValueError: bad id 3305**********642X" in text


def test_a_non_string_argument_holding_a_number_is_masked_without_breaking_the_format(stream_logger) -> None:
    logger, out = stream_logger
    logger.handlers[0].setFormatter(logging.Formatter("%(message)s"))
    logger.info("phone %d, %d cases", int(PHONE), 3)
    assert out.getvalue().strip() == "phone 138****5678, 3 cases"


def test_the_server_logging_config_puts_the_masking_filter_on_every_handler() -> None:
    from zhili.core.server import log_config

    config = log_config("info")
    saved = {name: (lg.handlers[:], lg.propagate, lg.level) for name in ("uvicorn", "uvicorn.access", "uvicorn.error")
             for lg in [logging.getLogger(name)]}
    root_handlers = logging.getLogger().handlers[:]
    try:
        logging.config.dictConfig(config)
        handlers = [h for name in ("uvicorn", "uvicorn.access", "uvicorn.error")
                    for h in logging.getLogger(name).handlers]
        assert handlers and all(any(isinstance(f, MaskingLogFilter) for f in h.filters) for h in handlers)
        assert all(any(isinstance(f, MaskingLogFilter) for f in h.filters) for h in logging.getLogger().handlers)
    finally:
        for name, (hs, prop, level) in saved.items():
            lg = logging.getLogger(name)
            lg.handlers, lg.propagate, lg.level = hs, prop, level
        logging.getLogger().handlers = root_handlers


def test_a_record_that_cannot_be_rendered_neither_raises_at_the_call_nor_leaks(stream_logger) -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError(f"no text for {PHONE}")

    logger, out = stream_logger
    logger.handlers[0].setFormatter(logging.Formatter("%(message)s"))
    logger.warning("phone %s and %s", PHONE, Unprintable())  # must not raise here, in the caller's code
    logger.warning("too few %s %s", ID)
    assert ID not in out.getvalue() and PHONE not in out.getvalue()
