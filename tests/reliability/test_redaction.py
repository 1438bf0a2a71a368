"""URL passwords are hidden wherever a URL is shown: SQLAlchemy renders database URLs, one
small function the broker and HTTP endpoint URLs."""

from sqlalchemy import create_engine

from rader_queue.secrets import redact_db_url, redact_url, scrub


def test_database_urls_are_rendered_by_sqlalchemy_without_the_password():
    url = "postgresql+psycopg://postgres:s3cr%40t@127.0.0.1:5432/rader?sslmode=disable"
    shown = redact_db_url(url)
    assert shown == "postgresql+psycopg://postgres:***@127.0.0.1:5432/rader?sslmode=disable"
    engine = create_engine("postgresql+psycopg://u:pw@db.example/rader")     # no connection made
    assert redact_db_url(engine.url) == "postgresql+psycopg://u:***@db.example/rader"
    assert redact_db_url("not a url but:secret@x") == "not a url but:secret@x"   # nothing to hide


def test_broker_and_http_urls_lose_only_the_password():
    assert redact_url("redis://:hunter22@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert redact_url("http://user:pw-123@host:8000/v1?x=1") == "http://user:***@host:8000/v1?x=1"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert redact_url("redis://:bad]pw@h:6379/0") == "redis://:***@h:6379/0"   # urlsplit refuses it


def test_scrub_removes_url_passwords_and_named_secrets_from_text():
    text = "cannot connect to redis://:hunter22@h:6379/0 with key sk-abcdef"
    assert scrub(text, "sk-abcdef") == "cannot connect to redis://:***@h:6379/0 with key ***"
