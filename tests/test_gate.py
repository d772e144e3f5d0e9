"""Tests for rb_mcp.gate: good lessons pass, each rule names its field, copies of recalled items fail."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rb_mcp.errors import InputError
from rb_mcp.loop.gate import GateError, check_item, item_problems

GOOD_ITEMS = [
    (
        "Add a default before making a Django field non-null",
        "Altering a nullable column to NOT NULL fails on existing rows unless they get a value first.",
        "When a Django migration fails on a nullable field, add a default (or a data migration that "
        "backfills existing rows) before altering the field to null=False, then apply it to a copy of "
        "production data to confirm that no row is left without a value.",
    ),
    (
        "Wait for readiness instead of sleeping in integration tests",
        "Intermittent timeouts around mock services mean the test starts before the service is ready.",
        "Loop the test to reproduce the flake, correlate failures with service start-up, then replace fixed "
        "sleeps with a readiness probe on a health endpoint or port with a bounded timeout.",
    ),
    (
        "Keyset pagination needs a unique cursor",
        "Sorting by a non-unique column duplicates rows across pages unless the cursor has a tiebreaker.",
        "Order by the timestamp and the primary key together and encode both in the cursor; compare the "
        "tuple in the where clause and test with rows sharing a timestamp.",
    ),
    (
        "Check the settings module before blaming the ORM",
        "Wrong database behaviour in tests often comes from settings, not from model code.",
        "If queries hit the wrong database in tests, print the resolved DATABASES from "
        "src/app/settings/test.py and check that DJANGO_SETTINGS_MODULE points at it before editing "
        "src/app/models.py; a stale environment variable in tox.ini was the usual cause.",
    ),
    (
        "Bound pip's resolver with upper pins when it backtracks",
        "pip can spend hours trying old releases when constraints are loose.",
        "If pip install keeps printing 'looking at multiple versions', add upper bounds for the packages it "
        "backtracks over in requirements/base.txt or generate a constraints file with pip-compile, then "
        "verify SHA-256 hashes and UTF-8 handling as RFC 7231 suggests (see line 3 of the example).",
    ),
    (
        "Bind dev servers to localhost inside containers carefully",
        "A server bound to 127.0.0.1 inside a container is unreachable from the host.",
        "Inside Docker, bind the dev server to 0.0.0.0 so the published port works, but keep 127.0.0.1 for "
        "processes that must stay private; mail tests can use user@example.com and /var/run/docker.sock is "
        "the socket to mount for docker-in-docker.",
    ),
    (
        "迁移前先为非空字段添加默认值",
        "已有数据行没有值时，把可空字段改为非空会失败。",
        "当数据库迁移把可空字段改成非空时，先写一个数据迁移为已有行回填默认值，再修改字段约束，并在生产数据副本上验证。",
    ),
]


@pytest.mark.parametrize("item", GOOD_ITEMS, ids=[i[0][:40] for i in GOOD_ITEMS])
def test_good_items_pass(item: tuple[str, str, str]) -> None:
    assert item_problems(*item) == []
    check_item(*item)  # does not raise


GOOD = GOOD_ITEMS[0]


def with_field(field: str, value: str) -> tuple[str, str, str]:
    title, description, content = GOOD
    return {
        "title": (value, description, content),
        "description": (title, value, content),
        "content": (title, description, value),
    }[field]


def assert_rejected(item: tuple[str, str, str], field: str, *fragments: str) -> list[str]:
    problems = item_problems(*item)
    mine = [p for p in problems if p.startswith(f"{field}: ")]
    assert mine, f"expected a {field} problem, got {problems}"
    for fragment in fragments:
        assert any(fragment in p for p in mine), f"{fragment!r} not in {mine}"
    return mine


@pytest.mark.parametrize("field", ["title", "description", "content"])
@pytest.mark.parametrize("value", ["", "   ", "\n\t"])
def test_empty_fields(field: str, value: str) -> None:
    assert_rejected(with_field(field, value), field, "is empty")


def test_all_empty_reports_each_field_once() -> None:
    problems = item_problems("", "", "")
    assert [p.split(":")[0] for p in problems] == ["title", "description", "content"]


@pytest.mark.parametrize("title", ["Migrations", "Fix bug", "a-b"])
def test_title_too_few_words(title: str) -> None:
    assert_rejected(with_field("title", title), "title", "at least 3 words")


def test_title_too_long() -> None:
    assert_rejected(with_field("title", "Add a default " * 12), "title", "under 120 characters")


def test_description_too_long() -> None:
    assert_rejected(with_field("description", "word " * 70), "description", "under 300 characters")


@pytest.mark.parametrize(
    "content",
    ["Add a default first.", "Backfill rows, then alter the column constraint."],
)
def test_content_too_short(content: str) -> None:
    assert_rejected(with_field("content", content), "content", "too short")


def test_content_too_long() -> None:
    long = " ".join(f"step{i} backfills table{i} before altering column{i};" for i in range(400))
    assert_rejected(with_field("content", long), "content", "under 4000 characters")


@pytest.mark.parametrize(
    "content",
    [
        "Be careful and test your code. Make sure it works and double check everything before you finish.",
        "Always follow best practices, be careful, and make sure everything works properly in the end.",
        "Think step by step, pay attention to details, test thoroughly and don't make mistakes again.",
    ],
)
def test_generic_platitudes(content: str) -> None:
    assert_rejected(with_field("content", content), "content", "too generic")


def test_specific_lesson_using_a_generic_phrase_passes() -> None:
    content = (
        "Make sure the migration backfills existing rows with a default before the column becomes "
        "non-null, otherwise PostgreSQL rejects the ALTER TABLE on populated tables."
    )
    assert item_problems(*with_field("content", content)) == []


@pytest.mark.parametrize(
    ("text", "snippet"),
    [
        (
            "Edit /home/alice/proj/x.py to change the timeout before retrying the job.",
            "/home/alice/proj/x.py",
        ),
        ("The cache in /Users/bob/Library/Caches/pip was stale and had to be removed.", "/Users/bob/Library"),
        (
            "Logs were under /tmp/pytest-of-ci/pytest-12/test_upload0/out.log after the run.",
            "/tmp/pytest-of-ci",
        ),
        (
            "Data lived in /var/lib/postgresql/14/main which filled the disk during imports.",
            "/var/lib/postgresql",
        ),
        (
            r"Run the installer from C:\Users\bob\Downloads\setup.exe with admin rights first.",
            r"C:\Users\bob",
        ),
    ],
)
def test_absolute_paths_are_rejected(text: str, snippet: str) -> None:
    mine = assert_rejected(with_field("content", text), "content", "absolute path", "repo-relative path")
    assert any(snippet in p for p in mine)


def test_absolute_path_in_title_names_the_title() -> None:
    assert_rejected(with_field("title", "Fix imports in /home/alice/proj/app.py"), "title", "absolute path")


@pytest.mark.parametrize(
    "text",
    [
        "Keep shared fixtures in tests/conftest.py and import helpers from src/app/models.py explicitly.",
        "Read settings from config/settings.toml and never from ~/.bashrc exports in CI jobs.",
        "Call the endpoint /api/v1/users/{id} with the ETag header to get conditional responses.",
        "Fetch https://example.com/home/docs/index.html during the docs build to validate the links.",
    ],
)
def test_relative_paths_and_urls_pass(text: str) -> None:
    assert item_problems(*with_field("content", text)) == []


@pytest.mark.parametrize(
    ("text", "snippet"),
    [
        ("The regression came from commit 3f9a2b7c1d0e in the vendored parser module.", "3f9a2b7c1d0e"),
        ("Revert e83c5163316f89bfbde7d9ab23ca2e25604af290 when the serializer breaks again.", "e83c5163316f"),
        ("The job 123e4567-e89b-12d3-a456-426614174000 failed because the queue was full.", "123e4567-e89b"),
    ],
)
def test_hashes_and_uuids_are_rejected(text: str, snippet: str) -> None:
    mine = assert_rejected(with_field("content", text), "content", "hash or object id")
    assert any(snippet in p for p in mine)


@pytest.mark.parametrize(
    "text",
    [
        "This is the fix for #12345 where uploads timed out on large files in the worker.",
        "As discussed in JIRA-1234 the retry budget must be shared between the worker threads.",
        "PROJ-123 showed that the cache key must include the locale to avoid mixing translations.",
        "See PR 4521 for why the serializer must sort keys before hashing the payload.",
    ],
)
def test_ticket_ids_are_rejected(text: str) -> None:
    assert_rejected(with_field("content", text), "content", "ticket or PR")


@pytest.mark.parametrize(
    "text",
    [
        "Hash the payload with SHA-256 and compare digests in constant time to avoid timing leaks.",
        "Decode the bytes as UTF-8 and follow RFC-7231 when choosing the status code for retries.",
        "Use #12 sized batches and colours like #000000 in the report templates for the dashboards.",
    ],
)
def test_standards_and_small_numbers_are_not_tickets(text: str) -> None:
    assert item_problems(*with_field("content", text)) == []


def test_ip_addresses() -> None:
    assert_rejected(
        with_field("content", "Point the client at 10.0.3.17 when the staging database refuses connections."),
        "content",
        "IP address",
        "10.0.3.17",
    )
    fine = "Bind to 0.0.0.0 inside containers and use 127.0.0.1 on the host; 10.0.0.0/8 ranges are private."
    assert item_problems(*with_field("content", fine)) == []


def test_email_addresses() -> None:
    assert_rejected(
        with_field(
            "content", "Ask bob.smith@acme-corp.io to rotate the deploy key when builds fail on signing."
        ),
        "content",
        "email address",
    )
    fine = "Configure git with user@example.com in CI and push to git@github.com:org/repo.git over SSH keys."
    assert item_problems(*with_field("content", fine)) == []


def test_line_numbers() -> None:
    assert_rejected(
        with_field(
            "content", "The off-by-one error is at line 347 where the loop bound uses <= instead of <."
        ),
        "content",
        "line 347",
    )
    fine = "Put the shebang on line 1 and the encoding comment on line 2 so that the interpreter reads both."
    assert item_problems(*with_field("content", fine)) == []


def test_redacted_secrets_are_rejected() -> None:
    text = "Export API_KEY=[REDACTED:openai-key] before running the integration tests against the sandbox."
    assert_rejected(with_field("content", text), "content", "redacted secret")


UNFINISHED_TAG = "[" + "TO" + "DO]"


@pytest.mark.parametrize(
    ("field", "value", "snippet"),
    [
        ("title", "<title>", "<title>"),
        ("description", "{description}", "{description}"),
        ("content", "{{content}} and then some more words that make this long enough", "{{content}}"),
        ("description", f"Summarize the fix here {UNFINISHED_TAG}", UNFINISHED_TAG),
        ("description", "TBD", "TBD"),
        (
            "content",
            "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.",
            "Lorem ipsum",
        ),
        ("content", "...", "..."),
        ("title", "…", "…"),
        ("content", "<insert the lesson here> with a few more words so it is not too short", "<insert"),
        (
            "content",
            "Export YOUR_API_KEY and run the migration so the backfill can reach the API.",
            "YOUR_API_KEY",
        ),
        ("content", "Step one <...> step two <...> and step three for the deployment pipeline.", "<...>"),
    ],
)
def test_placeholders(field: str, value: str, snippet: str) -> None:
    mine = assert_rejected(with_field(field, value), field, "placeholder")
    assert any(snippet in p for p in mine)


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("title", "Title: Add a default before altering columns", "Title:"),
        ("description", "Description: altering a column fails on existing rows", "Description:"),
        (
            "content",
            "Title: Add defaults\nContent: add a default before altering the column so existing rows pass.",
            "Title:",
        ),
    ],
)
def test_scaffolding_labels(field: str, value: str, label: str) -> None:
    assert_rejected(with_field(field, value), field, "scaffolding label", label)


def test_content_type_header_is_not_scaffolding() -> None:
    text = "Send Content-Type: application/json with the body or the API answers 415 and the client retries."
    assert item_problems(*with_field("content", text)) == []


# ---- Copies of recalled memories.

RECALLED = "\n".join(GOOD_ITEMS[1])
COPY_MSG = "content: repeats a memory item that was recalled for this task"


def test_exact_copy_is_rejected() -> None:
    title, description, content = GOOD_ITEMS[1]
    problems = item_problems("A new name for the same lesson", description, content, [RECALLED])
    assert any(p.startswith(COPY_MSG) for p in problems)
    assert any("already credited" in p for p in problems)


def test_copy_with_case_and_punctuation_changes_is_rejected() -> None:
    content = GOOD_ITEMS[1][2].upper().replace(",", "").replace(";", " -- ")
    problems = item_problems("A new name for the same lesson", "Same thing.", content, ["x", RECALLED])
    assert any(p.startswith(COPY_MSG) for p in problems)


def test_copied_part_of_a_longer_recalled_item_is_rejected() -> None:
    sentence = (
        "replace fixed sleeps with a readiness probe on a health endpoint or port with a bounded timeout"
    )
    content = f"Then {sentence}."
    problems = item_problems("Probe readiness rather than sleeping", "Use a probe.", content, [RECALLED])
    assert any(p.startswith(COPY_MSG) for p in problems)


def test_mostly_copied_with_small_edit_is_rejected() -> None:
    content = GOOD_ITEMS[1][2] + " Also log the probe result."
    problems = item_problems("Probe readiness rather than sleeping", "Use a probe.", content, [RECALLED])
    assert any(p.startswith(COPY_MSG) for p in problems)


def test_paraphrase_passes() -> None:
    content = (
        "When an integration test only fails sometimes, run it in a loop until it breaks, compare the "
        "failing runs with the moment the dependency came up, and poll a health check with a deadline "
        "instead of a hard-coded pause."
    )
    assert (
        item_problems(
            "Poll a health check instead of pausing in tests", "Flaky startup races.", content, [RECALLED]
        )
        == []
    )


def test_new_lesson_with_recalled_context_passes() -> None:
    content = (
        "The readiness probe was not enough because the mock S3 server answers health checks before its "
        "buckets exist; create the buckets in the fixture and poll for a listed bucket instead."
    )
    assert (
        item_problems(
            "Wait for fixture data not just liveness", "Liveness is not readiness.", content, [RECALLED]
        )
        == []
    )


def test_short_recalled_text_does_not_cause_false_positive() -> None:
    _, description, content = GOOD_ITEMS[0]
    tiny = ["add a default", "Django migration", "null"]
    assert item_problems("Add defaults before NOT NULL changes", description, content, tiny) == []


def test_recalled_may_be_empty_or_odd() -> None:
    assert item_problems(*GOOD, recalled=[]) == []
    assert item_problems(*GOOD, recalled=["", "   ", "\ud800"]) == []


# ---- check_item and robustness.


def test_check_item_raises_with_every_problem() -> None:
    with pytest.raises(GateError) as info:
        check_item(
            "Fix", "", "Be careful and test your code, make sure it works and double check everything."
        )
    message = str(info.value)
    assert "title:" in message and "description:" in message and "content:" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, InputError)


def test_problems_are_ordered_by_field() -> None:
    problems = item_problems("x", "/home/a/b.py " * 40, "short")
    fields = [p.split(":")[0] for p in problems]
    assert fields == sorted(fields, key=["title", "description", "content"].index)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("unit", ["a", "a@b.cd ", "1.1.1.1.", "/home/x", "word ", "<{{[#12 "])
def test_huge_fields_are_rejected_without_hanging(unit: str) -> None:
    huge = unit * (2_000_000 // len(unit))
    problems = item_problems(huge[:500], huge[:1000], huge, [huge, huge])
    assert any(p.startswith("content: is ") and "under 4000 characters" in p for p in problems)
    assert any(p.startswith("description: is ") for p in problems)


def test_non_string_input_does_not_raise() -> None:
    assert isinstance(item_problems(None, 3, b"bytes"), list)  # type: ignore[arg-type]


any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=400)
tricky_text = st.lists(
    st.sampled_from(
        [
            "/home/",
            "C:\\",
            "#123",
            "ABC-12",
            "line 99",
            "1.2.3.4",
            "a@b.cd",
            "<title>",
            "{{content}}",
            "...",
            "Title:",
            "be careful",
            " ",
            "\n",
            "deadbeef1234",
            "[REDACTED:x]",
            "word",
            "迁移",
        ]
    ),
    max_size=30,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    title=st.one_of(any_text, tricky_text),
    description=st.one_of(any_text, tricky_text),
    content=st.one_of(any_text, tricky_text),
    recalled=st.lists(st.one_of(any_text, tricky_text), max_size=4),
)
def test_item_problems_never_raises(title: str, description: str, content: str, recalled: list[str]) -> None:
    problems = item_problems(title, description, content, recalled)
    assert isinstance(problems, list)
    assert all(
        isinstance(p, str) and p.split(":")[0] in {"title", "description", "content"} for p in problems
    )
    if problems:
        with pytest.raises(GateError):
            check_item(title, description, content, recalled)
    else:
        check_item(title, description, content, recalled)
