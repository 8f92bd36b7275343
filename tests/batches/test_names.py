import pytest

from backend.batches.names import safe_filename, unique_name


@pytest.mark.parametrize(("raw", "expected"), [
    ("photo.jpg", "photo.jpg"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\me\\pic.png", "pic.png"),
    ("/absolute/path/pic.png", "pic.png"),
    ("a\x00b.jpg", "a b.jpg"),
    ("tab\there.jpg", "tab here.jpg"),
    ("evil\u202egpj.exe", "evil gpj.exe"),
    ("..", "file"),
    (".hidden", "hidden"),
    ("", "file"),
    ("what?*.png", "what__.png"),
    ("Привет мир.webp", "Привет мир.webp"),
])
def test_safe_filename(raw, expected):
    assert safe_filename(raw) == expected


def test_long_names_keep_their_extension():
    name = safe_filename("x" * 1000 + ".jpeg")
    assert len(name) == 120 and name.endswith(".jpeg")


def test_unique_name_numbers_duplicates_case_insensitively():
    taken: set[str] = set()
    assert [unique_name(n, taken) for n in ["a.jpg", "A.jpg", "a.jpg", "b.jpg"]] == [
        "a.jpg", "A (2).jpg", "a (3).jpg", "b.jpg"]
