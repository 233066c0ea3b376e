"""Rendering: sandbox, strict variables, alert text as data, HTML escaping, the context contract."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.content.library import Library, Template
from alerts.content.render import (
    RenderError,
    build_campaign_context,
    build_context,
    format_time,
    render,
    render_title,
)
from alerts.model import Alert, Info, Level


def make(text: str, channel: str = "sms", title: str = "测试", template_id: str = "heat.test.residents.sms") -> Template:
    return Template(
        id=template_id, hazard="heat", levels=(), audience="residents", channel=channel, language="zh-CN",
        stage="warning", version=1, title=title, text=text, review=None, path=Path("heat/test.yaml"),
    )


def alert(**info: object) -> Alert:
    fields: dict[str, object] = {"language": "zh-CN", "event": "高温", "hazard": "heat", "level": Level.orange}
    fields.update(info)
    return Alert(identifier="x", sender="s", sent=datetime(2025, 7, 1, 6, 5, tzinfo=UTC), infos=[Info(**fields)])


def context(**info: object) -> dict[str, object]:
    return build_context(alert(**info), hazard_zh="高温", area_phrase="米山镇、三甲镇", area_names=["米山镇", "三甲镇"],
                         issuer_default="高平市气象台")


def test_template_code_inside_alert_text_is_rendered_literally() -> None:
    hostile = "{{ 7*7 }} {% for x in range(3) %}x{% endfor %} {{ ''.__class__ }}"
    out = render(make("{{ description }}|{{ headline }}"), context(description=hostile, headline="{{ issuer }}"))
    assert out == hostile + "|{{ issuer }}"


def test_sandbox_blocks_attribute_escapes() -> None:
    for source in ("{{ ''.__class__.__mro__ }}", "{{ cycler.__init__.__globals__ }}", "{{ params.__class__.__base__ }}"):
        with pytest.raises(RenderError, match="unsafe|undefined"):
            render(make(source), context())


def test_missing_variable_names_template_line_and_variable() -> None:
    with pytest.raises(RenderError) as caught:
        render(make("第一行\n{{ issuer }}\n请拨打{{ hotline }}"), context())
    error = caught.value
    assert (error.template_id, error.line, error.variable) == ("heat.test.residents.sms", 3, "hotline")
    assert str(error).startswith("template heat.test.residents.sms, line 3:") and "'hotline' is undefined" in str(error)


def test_missing_attribute_of_params_is_an_error_unless_defaulted() -> None:
    with pytest.raises(RenderError) as caught:
        render(make("{{ params.date }}"), context())
    assert caught.value.variable == "date"
    assert render(make("{{ params.date | default('5月12日') }}"), context()) == "5月12日"


def test_syntax_error_names_line() -> None:
    with pytest.raises(RenderError, match=r"line 2: syntax error"):
        render(make("ok\n{% if %}"), context())


def test_html_notice_escapes_alert_text_and_wraps_paragraphs() -> None:
    notice = make("{{ issuer }}：\n{{ description }}\n\n第二段", channel="notice")
    out = render(notice, context(description="<script>alert(1)</script>"), html=True)
    assert out == "<p>高平市气象台：<br>\n&lt;script&gt;alert(1)&lt;/script&gt;</p>\n<p>第二段</p>"
    assert "<script>" in render(notice, context(description="<script>"))  # plain text is not escaped


def test_html_is_refused_for_sms() -> None:
    with pytest.raises(ValueError, match="notices"):
        render(make("x"), context(), html=True)


def test_sms_lines_join_without_spaces_in_chinese_and_with_one_in_english() -> None:
    assert render(make("第一句，\n  第二句。\n\n第三句"), context()) == "第一句，第二句。第三句"
    assert render(make("Stay\nindoors.\nCall 120."), context()) == "Stay indoors. Call 120."


def test_title_renders_variables(library: Library) -> None:
    title = render_title(library.get("rainstorm.warning.schools.notice"), context())
    assert title == "高温橙色预警学校防御提示"


def test_chinese_time_is_shanghai_local() -> None:
    assert format_time(datetime(2025, 11, 28, 6, 30, tzinfo=UTC)) == "11月28日14时30分"
    assert format_time(datetime(2025, 11, 28, 6, 0, tzinfo=UTC)) == "11月28日14时"
    assert format_time(datetime(2025, 12, 31, 16, 5, tzinfo=UTC)) == "1月1日0时05分"
    assert format_time(datetime(2025, 11, 28, 9, 5)) == "11月28日9时05分"  # naive: already local
    assert format_time(None) == ""


def test_context_contract_from_an_alert() -> None:
    ctx = build_context(
        alert(sender_name="", onset=datetime(2025, 7, 1, 7, 0, tzinfo=UTC), headline="标题", instruction="指引"),
        hazard_zh="高温", area_phrase="高平市全境", area_names=["米山镇", "三甲镇"], issuer_default="高平市气象台",
    )
    assert ctx["issuer"] == "高平市气象台"
    assert (ctx["event"], ctx["level"], ctx["level_name"], ctx["level_roman"]) == ("高温", "orange", "橙色", "Ⅱ级")
    assert (ctx["areas"], ctx["area_list"]) == ("高平市全境", "米山镇、三甲镇")
    assert (ctx["onset"], ctx["expires"], ctx["sent"]) == ("7月1日15时", "", "7月1日14时05分")
    assert (ctx["headline"], ctx["description"], ctx["instruction"], ctx["params"]) == ("标题", "", "指引", {})
    assert (ctx["issued"], ctx["valid_until"], ctx["previous_level_name"], ctx["stage"]) == ("1日14时05分", "", "", "new")
    # The office comes from configuration; the alert's own senderName never reaches a text.
    assert context(sender_name="晋城市气象台 请拨13800138000")["issuer"] == "高平市气象台"
    office = build_context(alert(sender_name="假冒 http://x.cn"), hazard_zh="高温", area_phrase="米山镇", area_names=[],
                           issuer_default="高平市气象台", office="晋城市气象台", previous_level="yellow", stage="raise")
    assert (office["issuer"], office["previous_level_name"], office["stage"]) == ("晋城市气象台", "黄色", "raise")


def test_phone_texts_get_no_free_text_from_the_alert() -> None:
    for channel in ("sms", "voice", "im"):
        ctx = build_context(alert(headline="标题 13800138000", instruction="指引"), hazard_zh="高温",
                            area_phrase="米山镇", area_names=[], issuer_default="高平市气象台", channel=channel)
        assert not {"headline", "description", "instruction"} & set(ctx)


def test_alert_without_level_gives_empty_level_fields() -> None:
    ctx = context(level=None)
    assert (ctx["level"], ctx["level_name"], ctx["level_roman"]) == ("", "", "")


def test_area_phrase_longer_than_20_characters_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 20"):
        build_context(alert(), hazard_zh="高温", area_phrase="米山镇、三甲镇、神农镇、陈区镇、北诗镇、河西镇", area_names=[],
                      issuer_default="高平市气象台")


def test_campaign_context_has_the_same_keys_with_alert_fields_empty() -> None:
    now = datetime(2025, 5, 12, 1, 0, tzinfo=UTC)
    ctx = build_campaign_context(area_phrase="高平市全境", area_names=["米山镇"], params={"day": "5月12日"}, now=now)
    assert set(ctx) == set(context())  # notices' contexts: every key, free text included
    assert (ctx["event"], ctx["level"], ctx["level_name"], ctx["issuer"]) == ("", "", "", "")
    assert (ctx["sent"], ctx["params"]) == ("5月12日9时", {"day": "5月12日"})


def test_shipped_notice_renders_level_sections_only_where_they_apply(library: Library) -> None:
    notice = library.get("rainstorm.warning.schools.notice")
    yellow = render(notice, context(level=Level.yellow))
    red = render(notice, context(level=Level.red))
    assert "4. 停课、调整作息等安排以教育部门通知为准" not in yellow and "5. 红色预警时" not in yellow
    assert "4. 停课、调整作息等安排以教育部门通知为准" in red and "5. 红色预警时" in red
    assert "\n\n\n" not in yellow
