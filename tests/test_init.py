"""kb init: a new knowledge base that kb check passes and kb build renders; an existing one is refused."""

from kb.cli import main
from kb.scaffold import EXAMPLE_CLAIM_ID


def test_init_creates_a_valid_knowledge_base(tmp_path, capsys):
    target = tmp_path / "mykb"
    assert main(["init", str(target), "--title", "My health claims"]) == 0
    for rel in ("kb.yaml", "README.md", "articles/example.md", f"claims/{EXAMPLE_CLAIM_ID}.yaml", "references/example.bib",
                "schema/claim.schema.json"):
        assert (target / rel).is_file(), rel
    assert 'title: "My health claims"' in (target / "kb.yaml").read_text(encoding="utf-8")
    assert "kb extract" in (target / "README.md").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["--kb", str(target), "check", "--strict"]) == 0
    assert "ok: 1 claims, 1 references, 1 article(s); no problems" in capsys.readouterr().err


def test_init_output_builds(tmp_path, capsys):
    target = tmp_path / "mykb"
    assert main(["init", str(target)]) == 0
    site = tmp_path / "site"
    assert main(["--kb", str(target), "build", "-o", str(site)]) == 0
    page = (site / "claims" / f"{EXAMPLE_CLAIM_ID}.html").read_text(encoding="utf-8")
    assert "Physical activity and exercise may improve pain severity" in page
    assert 'href="../references/geneen2017.html"' in page


def test_init_dutch(tmp_path, capsys):
    assert main(["init", str(tmp_path / "nl"), "--lang", "nl"]) == 0
    assert "languages: [nl, en]" in (tmp_path / "nl" / "kb.yaml").read_text(encoding="utf-8")
    assert main(["--kb", str(tmp_path / "nl"), "check"]) == 0


def test_init_refuses_an_existing_knowledge_base(tmp_path, capsys):
    target = tmp_path / "mykb"
    assert main(["init", str(target)]) == 0
    (target / "kb.yaml").write_text("title: mine\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["init", str(target)]) == 1
    err = capsys.readouterr().err
    assert f"kb: error: '{target}' already holds a knowledge base (kb.yaml exists); nothing was changed" in err
    assert (target / "kb.yaml").read_text(encoding="utf-8") == "title: mine\n"


def test_init_refuses_a_folder_with_claims(tmp_path, capsys):
    (tmp_path / "old" / "claims").mkdir(parents=True)
    assert main(["init", str(tmp_path / "old")]) == 1
    assert "(claims exists)" in capsys.readouterr().err
    assert not (tmp_path / "old" / "kb.yaml").exists()


def test_init_keeps_an_existing_readme(tmp_path, capsys):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "README.md").write_text("# my repo\n", encoding="utf-8")
    assert main(["init", str(tmp_path / "repo")]) == 0
    assert (tmp_path / "repo" / "README.md").read_text(encoding="utf-8") == "# my repo\n"
    assert (tmp_path / "repo" / "kb.yaml").exists()
