"""The patient list's lean DB-API queries give exactly what the Core path in a unit of
work gives, on SQLite and PostgreSQL: same rows, same order, same values and types."""

from __future__ import annotations

from datetime import date

import pytest
from accounts import as_user

from clinic_app.domain.records import PatientDraft, Sex
from clinic_app.persistence.uow import Database, DatabaseDamagedError
from clinic_app.services.charting import ChartingService

PEOPLE = [
    ("Müller", "Anna"), ("Mueller", "Jürgen"), ("O'Brien", "Seán"), ("Ødegaard", "Martin"),
    ("García López", "María José"), ("Schmidt", "Anna-Lena"), ("Schmitz", "Ann"),
    ("Smith", "Zoë"), ("Nguyễn", "Văn An"), ("Andersson", "Åsa"),
]
TEXTS = ["", "m", "mü", "MUELLER", "anna", "schm an", "o'b", "øde", "garcía lóp", "SYN-0",
         "SYN-0003", "1961-04-23", "23.04.1961", "23/04/1961", "31.02.1961", "zzz", "a a",
         "van", "nguyen"]


@pytest.fixture
def clinic(db: Database) -> Database:
    svc = ChartingService(db, as_user(db, "tester"))
    for i in range(30):
        family, given = PEOPLE[i % len(PEOPLE)]
        born = date(1961, 4, 23) if i % 7 == 0 else date(1940 + i, 1 + i % 12, 1 + i % 27)
        patient = svc.register_patient(PatientDraft(
            mrn=f"SYN-{i:04d}", family_name=family, given_name=given, date_of_birth=born,
            sex=(Sex.FEMALE, Sex.MALE, Sex.OTHER, Sex.UNKNOWN)[i % 4],
            phone="+49 30 1234" if i % 2 else "", email=f"p{i}@example.org" if i % 3 else "",
            notes="Knee ACL-R" if i % 5 else "",
        ))
        if i % 9 == 4:
            svc.mark_patient_in_error(patient.id, patient.stamp.version, "duplicate record")
    return db


@pytest.mark.parametrize("include_in_error", [False, True])
def test_lean_list_queries_match_the_unit_of_work(clinic: Database,
                                                  include_in_error: bool) -> None:
    for text in TEXTS:
        for offset, limit in ((0, 200), (0, 5), (5, 7), (29, 10)):
            with clinic.unit_of_work("t", read_only=True) as uow:
                expected = uow.patients.search(text, offset, limit, include_in_error)
                expected_count = uow.patients.count(text, include_in_error)
            with clinic.dbapi_read() as conn:
                got = clinic.patient_list.search(conn, text, offset, limit, include_in_error)
                got_count = clinic.patient_list.count(conn, text, include_in_error)
            assert got == expected, (text, offset, limit)
            assert got_count == expected_count, text
            for g, e in zip(got, expected, strict=True):  # types too, not only equality
                assert type(g.id) is type(e.id) and g.stamp.created_at.tzinfo is not None
                assert type(g.draft.date_of_birth) is date and isinstance(g.draft.sex, Sex)


def test_the_service_lists_through_the_lean_path(clinic: Database) -> None:
    svc = ChartingService(clinic, as_user(clinic, "tester"))
    listed = svc.search_patients("schm")
    assert [p.draft.family_name for p in listed] == ["Schmidt"] * 3 + ["Schmitz"] * 3
    assert svc.count_patients("schm") == 6
    assert svc.count_patients("", include_in_error=True) == 30
    assert svc.count_patients("") == 30 - len([i for i in range(30) if i % 9 == 4])


def test_the_lean_path_refuses_a_database_found_damaged(clinic: Database) -> None:
    clinic._damage = DatabaseDamagedError("damaged (test)")
    try:
        with pytest.raises(DatabaseDamagedError):
            ChartingService(clinic, as_user(clinic, "tester")).search_patients("")
    finally:
        clinic._damage = None


@pytest.mark.parametrize("include_in_error", [False, True])
@pytest.mark.parametrize(("limit", "windows", "given_runs"), [
    (1, (5000,), 20), (4, (1,), 20), (7, (3, 5), 0), (200, (5000, 50000), 20), (5, (2, 12), 1),
    (3, (4, 1), 0), (2, (1,), 1)])
def test_keyset_pages_walk_every_match_once_in_list_order(clinic: Database,
                                                          include_in_error: bool,
                                                          limit: int,
                                                          windows: tuple[int, ...],
                                                          given_runs: int) -> None:
    """Small windows make pages come from the prefix indexes after a short walk; given
    names are read run by run, or sorted when a prefix covers more than ``given_runs``."""
    clinic.patient_list.windows = windows
    clinic.patient_list.max_given_runs = given_runs
    for text in TEXTS:
        with clinic.unit_of_work("t", read_only=True) as uow:
            expected = uow.patients.search(text, 0, 1000, include_in_error)
        walked: list[object] = []
        after = None
        pages = 0
        while True:
            with clinic.dbapi_read() as conn:
                page = clinic.patient_list.page(conn, text, after, limit, include_in_error)
            pages += 1
            assert len(page.patients) <= limit
            walked.extend(page.patients)
            if page.next_after is None:
                break
            assert len(page.patients) == limit  # a short page is always the last one
            after = page.next_after
        assert walked == expected, (text, limit)
        assert pages == len(expected) // limit + 1, (text, limit)


def test_a_page_after_a_key_is_unaffected_by_rows_added_before_it(clinic: Database) -> None:
    """OFFSET paging would repeat a row when one is added above; the key does not."""
    svc = ChartingService(clinic, as_user(clinic, "tester"))
    first = svc.patient_list_page("", None, 5)
    svc.register_patient(PatientDraft(mrn="NEW-1", family_name="Aaberg", given_name="Ada",
                                      date_of_birth=date(1970, 1, 1), sex=Sex.FEMALE))
    second = svc.patient_list_page("", first.next_after, 5)
    with clinic.unit_of_work("t", read_only=True) as uow:
        everyone = uow.patients.search("", 0, 1000)
    assert everyone[0].draft.mrn == "NEW-1"
    assert list(second.patients) == everyone[6:11]
    assert not set(p.id for p in first.patients) & set(p.id for p in second.patients)


# Two or more words count through the longest word's prefix ranges on PostgreSQL (a UNION):
# a patient matching twice ("an an": Anna and Andersson) must still count once.
# One word counts its family, given-name and MRN ranges one after the other on PostgreSQL:
# a patient in two of them ("s": Schmidt, MRN SYN-...) must still count once.
@pytest.mark.parametrize("text", ["", "m", "schm an", "23.04.1961", "zzz", "an an", "a a",
                                  "anna 23.04.1961", "mü an", "van an nguy", "syn-0 a", "s",
                                  "sm", "syn-0"])
def test_capped_count_stops_at_the_cap(clinic: Database, text: str) -> None:
    svc = ChartingService(clinic, as_user(clinic, "tester"))
    exact = svc.count_patients(text)
    for cap in (1, 3, 10, 1000):
        assert svc.count_patients(text, cap=cap) == min(exact, cap), (text, cap)


def _many_patients(db: Database, n: int) -> None:
    """``n`` signed patients written in one statement (names across the alphabet)."""
    import uuid
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from clinic_app.persistence import rowmac
    from clinic_app.persistence.mapping import search_key
    from clinic_app.persistence.models import PatientRow

    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        family, given = PEOPLE[i % len(PEOPLE)][0], PEOPLE[(i // 7) % len(PEOPLE)][1]
        rows.append(rowmac.sign_values(db.audit_key, "patient", {
            "id": uuid.uuid4(), "mrn": f"SYN-{i:06d}", "family_name": family,
            "given_name": given, "family_key": search_key(family),
            "given_key": search_key(given), "sex": "unknown",
            "date_of_birth": date(1940, 1, 1) + timedelta(days=i), "phone": "", "email": "",
            "notes": "", "created_at": now, "created_by": "t", "updated_at": now,
            "updated_by": "t", "version": 1, "entered_in_error": False}))
    with db.engine.begin() as conn:
        conn.execute(insert(PatientRow), rows)


@pytest.mark.parametrize("text", ["", "m", "s a", "schm an", "a a", "23.04.1961", "zzz"])
def test_a_count_within_its_budget_is_the_capped_count(clinic: Database, text: str) -> None:
    svc = ChartingService(clinic, as_user(clinic, "tester"))
    for cap in (3, 1000):
        # A minute: never reached by 30 patients, so this is the count itself.
        assert svc.count_patients_within(text, cap, budget_s=60) == \
            svc.count_patients(text, cap=cap), (text, cap)


def test_a_count_out_of_time_claims_nothing_and_leaves_the_connection_usable(
        db: Database) -> None:
    """The database stops a count that ran out of its budget: no figure is returned (the
    list then says "at least" what it shows). On PostgreSQL the count waits for a lock
    another transaction holds until the timeout stops it; on SQLite, whose readers never
    wait for a writer, a budget already spent stops the count at its first check (every
    few thousand steps: 3,000 patients take many more)."""
    _many_patients(db, 3000)
    svc = ChartingService(db, as_user(db, "tester"))
    exact = svc.count_patients("s a", cap=10_001)
    assert exact > 0
    if db.dialect == "postgresql":
        with db.engine.connect() as holder:
            # Should the count not stop, the server ends the lock's session instead, the
            # count finishes and the test fails rather than waiting for ever.
            holder.exec_driver_sql("SET idle_in_transaction_session_timeout = '20s'")
            holder.exec_driver_sql("LOCK TABLE patient IN ACCESS EXCLUSIVE MODE")
            assert svc.count_patients_within("s a", 10_001, budget_s=0.05) is None
            holder.rollback()
    else:
        assert svc.count_patients_within("s a", 10_001, budget_s=0) is None
    # The pooled connections are usable again, and nothing is left set on them.
    for _ in range(3):
        assert svc.count_patients_within("s a", 10_001, budget_s=60) == exact
        assert svc.count_patients("s a", cap=10_001) == exact


# Two kinds of names whose first letters rarely go together ("k o"): the page reads such
# pairs per given name, narrowed to the family prefix of the words the given name does not
# start with, and only while the MRNs cannot match those words. Some MRNs start with "O",
# none with "K": "o"'s runs are narrowed ("o k"), "k"'s are not ("k o").
PAIR_FAMILIES = ["Kaur", "Kowalski", "Kaur-O'Brien", "O'Brien", "Olsen", "Koch", "Berg",
                 "Ødegaard", "Oz"]
PAIR_GIVEN = ["Oliver", "Olivia", "Karim", "Kenji", "Anna", "Omar", "Kai", "Ole", "Ko"]
PAIR_TEXTS = ["k o", "o k", "ka o", "ol k", "k ol", "ko ka", "ka ko", "o ko", "ol om", "k o ka",
              "o k 23.04.1961", "1961-04-23 k o", "k syn-00", "o syn-001", "o o-0", "k o-00",
              "k oz", "oz k", "o oz", "k k", "o o", "kai kaur", "k zzz", "zzz o", "o-0 k"]


def _pair_clinic(db: Database) -> None:
    """431 signed patients written in one statement: every pair of the names above, some
    born on 23.04.1961, some MRNs starting with "O", some entered in error."""
    import uuid
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from clinic_app.persistence import rowmac
    from clinic_app.persistence.mapping import search_key
    from clinic_app.persistence.models import PatientRow

    now = datetime.now(UTC)
    rows = []
    for i in range(431):
        family = PAIR_FAMILIES[i % len(PAIR_FAMILIES)]
        given = PAIR_GIVEN[(i // len(PAIR_FAMILIES) + i) % len(PAIR_GIVEN)]
        in_error = i % 11 == 5
        rows.append(rowmac.sign_values(db.audit_key, "patient", {
            "id": uuid.uuid4(), "mrn": f"O-{i:04d}" if i % 17 == 3 else f"SYN-{i:05d}",
            "family_name": family, "given_name": given, "family_key": search_key(family),
            "given_key": search_key(given), "sex": "unknown",
            "date_of_birth": date(1961, 4, 23) if i % 5 == 1
            else date(1940, 1, 1) + timedelta(days=i), "phone": "", "email": "", "notes": "",
            "created_at": now, "created_by": "t", "updated_at": now, "updated_by": "t",
            "version": 1, "entered_in_error": in_error,
            "error_reason": "duplicate record" if in_error else None}))
    with db.engine.begin() as conn:
        conn.execute(insert(PatientRow), rows)


def test_pages_of_rare_pairs_equal_the_orm_oracle(db: Database) -> None:
    """Every page of words read per given name (narrowed by the family prefix or tested
    row by row, read up to where earlier candidates already fill the page) is the ORM
    query's slice: same patients, same order, each exactly once, in error or not."""
    from search_oracle import search_filter
    from sqlalchemy import select

    from clinic_app.persistence import mapping
    from clinic_app.persistence.models import PatientRow

    _pair_clinic(db)
    sizes: dict[tuple[str, bool], int] = {}
    for include_in_error in (False, True):
        for text in PAIR_TEXTS:
            with db.unit_of_work("t", read_only=True) as uow:
                expected = [mapping.patient_of(r) for r in uow.session.scalars(
                    select(PatientRow).where(*search_filter(text, include_in_error))
                    .order_by(PatientRow.family_key, PatientRow.given_key, PatientRow.id))]
            for limit, windows in ((7, (3, 5)), (1, (1,)), (25, (10, 40)), (200, (5000,))):
                db.patient_list.windows = windows
                walked: list[object] = []
                after = None
                while True:
                    with db.dbapi_read() as conn:
                        page = db.patient_list.page(conn, text, after, limit, include_in_error)
                    walked.extend(page.patients)
                    if page.next_after is None:
                        break
                    assert len(page.patients) == limit, (text, limit)
                    # A page that does not move on would otherwise loop for ever.
                    assert len(walked) <= len(expected), (text, limit)
                    after = page.next_after
                assert walked == expected, (text, limit, windows, include_in_error)
            sizes[text, include_in_error] = len(expected)
    # The data reach every path: pairs spread over several pages, rarer ones too.
    assert sizes["k o", False] > 50 and sizes["o k", True] > sizes["o k", False] > 50, sizes
    assert 0 < sizes["o k 23.04.1961", False] < sizes["o k", False], sizes
    assert sizes["ol om", True] > 0 and sizes["k zzz", True] == 0, sizes
