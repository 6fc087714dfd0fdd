import pytest

from surveys.pseudonyms import InvalidStudyId, normalize_study_id, pseudonymize


def test_the_same_study_id_typed_differently_reaches_the_same_pseudonym() -> None:
    assert pseudonymize("hw-000123", key="k") == pseudonymize(" HW-000 123 ", key="k")


def test_a_pseudonym_is_a_keyed_hmac_not_a_plain_hash() -> None:
    assert pseudonymize("HW-1", key="one").value != pseudonymize("HW-1", key="two").value
    # Known-answer: HMAC-SHA256(key="k", msg="HW-1"), computed independently with openssl:
    # printf 'HW-1' | openssl dgst -sha256 -hmac k
    assert pseudonymize("hw-1", key="k").value == (
        "9cf770e52b280f0d02609ed8a0903953290862cdea7cbe3589337026fb19bf74"
    )


def test_the_key_version_is_kept_beside_the_pseudonym() -> None:
    assert pseudonymize("HW-1", key="k", key_version=3).key_version == 3


@pytest.mark.parametrize("bad", ["", "   ", "HW 1; DROP", "=cmd|x", "Ж-1", "A" * 65])
def test_a_malformed_study_id_is_refused(bad: str) -> None:
    with pytest.raises(InvalidStudyId):
        normalize_study_id(bad)
