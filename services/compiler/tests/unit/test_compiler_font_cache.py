"""The prepared font databases are used only while they match the installed state."""

from pathlib import Path

from texpipe_compiler import font_cache


def test_a_folder_is_used_only_with_the_stamp_of_the_installed_state(tmp_path: Path) -> None:
    assert font_cache.prepared_fonts(tmp_path) is None  # nothing prepared
    (tmp_path / font_cache.STAMP).write_text(font_cache.installed_state())
    assert font_cache.prepared_fonts(tmp_path) == font_cache.PreparedFonts(
        tmp_path / "luatex", tmp_path / "fontconfig"
    )
    (tmp_path / font_cache.STAMP).write_text(
        font_cache.installed_state() + "/usr/share/fonts/x 1\n"
    )
    assert font_cache.prepared_fonts(tmp_path) is None  # a font folder changed since


def test_fontconfig_reads_the_tex_trees_after_the_system_and_writes_its_own_cache() -> None:
    conf = font_cache.fonts_conf("/opt/cache")
    assert conf.index("<cachedir>/opt/cache</cachedir>") < conf.index("/etc/fonts/fonts.conf")
    for folder in font_cache.TEX_FONT_DIRS:
        assert (f"<dir>{folder}</dir>" in conf) == Path(folder).is_dir()
    assert "type1" not in conf
