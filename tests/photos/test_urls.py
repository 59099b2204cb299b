"""photos.urls: the URL-list format and the file names derived from it."""

from __future__ import annotations

from pathlib import Path

from photos.urls import UrlEntry, file_stem, key_of_file, read_url_list, url_key


def test_read_url_list(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_bytes("\ufeff# header\n\nhttps://a.org/1.jpg\n  http://b.org/2.png  \n#http://c.org/x\n"
                     "ftp://d.org/3.jpg\nnot a url\nhttp://e.org:99999/4.jpg\nhttp:///5.jpg\n".encode())
    entries = read_url_list(path)
    assert [(e.index, e.line, e.url) for e in entries] == [
        (0, 3, "https://a.org/1.jpg"), (1, 4, "http://b.org/2.png"), (2, 6, "ftp://d.org/3.jpg"),
        (3, 7, "not a url"), (4, 8, "http://e.org:99999/4.jpg"), (5, 9, "http:///5.jpg")]
    assert [e.valid for e in entries] == [True, True, False, False, False, False]
    assert "scheme 'ftp'" in entries[2].error and "scheme 'missing'" in entries[3].error
    assert "port out of range" in entries[4].error.lower() and "no host" in entries[5].error


def test_file_names() -> None:
    stem = file_stem(UrlEntry(index=42, line=50, url="https://a.org/cat.jpg"))
    assert stem == "00042_" + url_key("https://a.org/cat.jpg") and len(stem) == 16
    assert url_key("https://a.org/cat.jpg") != url_key("https://a.org/cat.jpg?x=1")
    assert key_of_file(stem + ".jpg") == url_key("https://a.org/cat.jpg")
    assert key_of_file("cat.jpg") is None and key_of_file(stem + "-1.jpg") is None
