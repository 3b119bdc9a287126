"""Words that win over any flow, in any supported language: MENU, HELP, LANGUAGE, STOP,
START, MY DATA, DELETE, MORE."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from bot import sms
from bot.content import render
from bot.engine import EraseResident, OptIn, OptOut
from bot.i18n import get_translator


@pytest.mark.parametrize("word", ["MENU", "menu", "0", "Imenyu", "kieslys", "lenane", "Menu!"])
def test_menu_keyword_mid_flow_in_several_languages(c, word) -> None:
    chat = c.Chat().onboarded()
    chat.send("7")
    assert chat.step == "settlement"
    reply = chat.send(word)
    assert "*Main menu*" in reply
    assert chat.step == "menu"
    assert chat.effects == []


@pytest.mark.parametrize("word", ["STOP", "stop", "Yeka", "misa", "Staak", "emisa", "UNSUBSCRIBE"])
def test_stop_wins_whatever_the_language_and_step(c, word) -> None:
    chat = c.Chat().onboarded(language="zu")
    chat.send("7")
    reply = chat.send(word)
    assert chat.effects == [OptOut(channel="whatsapp")]
    assert reply == render("optout.confirmed", get_translator("zu"))  # in isiZulu
    assert "START" in reply


# Twilio's standard opt-out words (twilio-facts: Advanced Opt-Out): Twilio blocks the number
# on each of them itself, so each must opt out here too.
@pytest.mark.parametrize(
    "word", ["STOP", "UNSUBSCRIBE", "END", "QUIT", "STOPALL", "REVOKE", "OPTOUT", "CANCEL"]
)
def test_every_twilio_opt_out_word_opts_out(c, word) -> None:
    chat = c.Chat(channel="sms").onboarded()
    chat.send(word)
    assert chat.effects == [OptOut(channel="sms")]


def test_stop_during_onboarding(chat) -> None:
    chat.send("hi")
    chat.send("STOP")
    assert chat.effects == [OptOut(channel="whatsapp")]


def test_opted_out_gets_a_reminder_only_until_start(c) -> None:
    chat = c.Chat().onboarded()
    chat.send("STOP")
    for text in ["4", "hello", "MENU", "HELP"]:
        reply = chat.send(text)
        assert reply == (
            "You have stopped messages from Siyakha. "
            "Reply START to begin again, or DELETE to remove your details."
        )
        assert chat.effects == []
    reply = chat.send("Qala")  # isiXhosa/isiZulu/Sesotho START
    assert chat.effects == [OptIn()]
    assert "Welcome back. You will get messages from Siyakha again." in reply
    assert "*Main menu*" in reply
    assert "Next meetings" in chat.send("4")


def test_start_when_not_opted_out_just_shows_the_menu(c) -> None:
    chat = c.Chat().onboarded()
    reply = chat.send("START")
    assert chat.effects == []
    assert "*Main menu*" in reply


def test_my_data_and_delete_still_work_when_opted_out(c) -> None:
    chat = c.Chat().onboarded()
    chat.send("STOP")
    assert "You have stopped messages from Siyakha." in chat.send("MY DATA")
    assert "Reply 1 to delete" in chat.send("DELETE")
    chat.send("1")
    assert chat.effects == [EraseResident()]


def test_help_in_afrikaans_keeps_the_step(c) -> None:
    chat = c.Chat().onboarded()
    chat.send("7")
    reply = chat.send("Hulp")
    assert "*Help*" in reply
    assert "STOP: stop all messages" in reply
    assert chat.step == "settlement"


@pytest.mark.parametrize(
    ("language", "status_line", "attend_line"),
    [
        ("en", "STATUS: how your reports are going", "ATTEND: tell us you will come to a meeting"),
        (
            "xh",
            "STATUS okanye IMEKO: iingxelo zakho zihamba njani",
            "ATTEND okanye NDIZA: sixelele ukuba uza kuza entlanganisweni",
        ),
    ],
)
def test_help_names_status_and_attend_and_they_do_what_it_says(
    c, language, status_line, attend_line
) -> None:
    t = get_translator(language)
    chat = c.Chat().onboarded(language=language)
    lines = chat.send("HELP").splitlines()
    assert status_line in lines and attend_line in lines
    # The resident's own words, as HELP names them (the last before the colon).
    status, attend = (line.split(":")[0].split(" ")[-1] for line in (status_line, attend_line))
    assert chat.send(status).startswith(render("my_reports.none", t))
    chat.send("0")
    which = render("meetings.attend_which", t, choices="").strip()
    assert chat.send(attend).startswith(which)
    assert chat.step == "attend_which"


def test_language_keyword_in_sesotho(c) -> None:
    chat = c.Chat().onboarded()
    assert "2 isiXhosa" in chat.send("puo")
    assert chat.step == "language"


def test_my_data_shows_what_is_kept(c) -> None:
    chat = c.Chat().onboarded()
    reply = chat.send("my data")
    assert "*Your data*" in reply
    assert "Phone number: +27821234567" in reply
    assert "Language: English" in reply
    assert "Settlement: Masakhane" in reply
    assert "You agreed to the privacy notice on 03 May 2025." in reply
    assert "Messages you have sent us: 1" in reply
    assert "Send DELETE to remove it." in reply
    assert chat.effects == []


def test_my_data_in_isizulu_words(c) -> None:
    chat = c.Chat().onboarded(settlement_id=None)
    reply = chat.send("Imininingwane yami")
    assert "Settlement: not chosen" in reply


def test_delete_needs_confirmation_then_erases(c) -> None:
    chat = c.Chat().onboarded()
    reply = chat.send("DELETE")
    assert "cannot be undone" in reply
    assert chat.effects == []
    assert chat.step == "delete_confirm"
    reply = chat.send("1")
    assert chat.effects == [EraseResident()]
    assert "Your details have been deleted." in reply
    assert chat.state is None  # erased: the engine returned {}
    assert "1 English" in chat.send("hi")  # a brand-new conversation


@pytest.mark.parametrize("answer", ["0", "no", "4", "MENU"])
def test_delete_cancelled_by_anything_but_1(c, answer) -> None:
    chat = c.Chat().onboarded()
    chat.send("susa")  # isiZulu DELETE
    reply = chat.send(answer)
    assert EraseResident() not in chat.effects
    assert "Nothing was deleted." in reply
    assert "*Main menu*" in reply
    assert chat.record.exists


def test_other_keyword_abandons_a_pending_delete(c) -> None:
    chat = c.Chat().onboarded()
    chat.send("DELETE")
    chat.send("HELP")
    assert chat.step == "menu"
    chat.send("1")
    assert chat.effects == []


def test_more_pages_through_a_long_sms_reply(c) -> None:
    chat = c.Chat(channel="sms").onboarded()
    first = chat.send("3")
    assert first.endswith("Reply MORE for the rest.")
    assert sms.segments(first) <= 3
    pages = [first]
    while pages[-1].endswith("Reply MORE for the rest."):
        pages.append(chat.send("more"))
        assert sms.segments(pages[-1]) <= 3
    whole = "\n".join(pages)
    for fact in ["Siyakha cannot put you on the list", "birth certificates", "Send 5 to ask"]:
        assert fact in whole
    assert pages[-1].endswith("Send 0 for the main menu.")
    assert "Main menu" in chat.send("MORE")  # nothing more to show: the menu is what is next
    # The menu still works after paging.
    assert "Next meetings" in chat.send("4")


def test_more_in_isixhosa_and_afrikaans(c) -> None:
    chat = c.Chat(channel="sms").onboarded()
    chat.send("1")
    second = chat.send("okungakumbi")
    assert "More" not in second
    chat.send("1")
    assert chat.send("Meer") == second


@pytest.mark.parametrize(("first", "then"), [("whatsapp", "sms"), ("sms", "whatsapp")])
def test_more_on_the_other_channel_is_paged_for_that_channel(c, first, then) -> None:
    """One resident, one conversation on both channels: MORE pages the rest for the
    channel it arrives on (SMS: 3 segments, no WhatsApp *bold*)."""
    chat = c.Chat(channel=first).onboarded()
    rows = [
        c.MilestoneInfo(
            "services",
            f"Standpipes and flush toilets for lane {i} of block {i % 4}",
            date(2026, 1 + i % 12, 1 + i),
            "delayed",
            "The contractor left the site and a new contractor is being appointed by the city.",
        )
        for i in range(1, 25)
    ]
    chat.directory.milestone_rows[c.MASAKHANE] = rows
    pages = [chat.send("2")]
    assert pages[0].endswith("Reply MORE for the rest.")
    chat.channel = then
    while pages[-1].endswith("Reply MORE for the rest."):
        pages.append(chat.send("MORE"))
        if then == "sms":
            assert sms.segments(pages[-1]) <= 3
            assert "*" not in pages[-1]
        else:
            assert len(pages[-1]) <= 1600
    whole = "\n".join(pages)
    for row in rows:
        assert whole.count(row.title + ":") == 1, row.title  # every one, once


def test_unsent_pages_expire_after_idle(c) -> None:
    chat = c.Chat(channel="sms").onboarded()
    chat.send("3")
    assert chat.state["more"]
    chat.wait(minutes=31)
    reply = chat.send("MORE")
    assert reply.startswith("Welcome back to Siyakha.")
    assert "Main menu" in reply
    assert "more" not in chat.state


def test_more_as_afrikaans_good_morning_the_next_day_is_a_welcome_back(c) -> None:
    t = get_translator("af")
    chat = c.Chat(channel="sms").onboarded(language="af")
    chat.send("1")  # the category text: paged on SMS
    assert chat.state["more"]
    chat.wait(minutes=20 * 60)
    reply = chat.send("Môre!")
    assert reply.startswith(render("menu.welcome_back", t))
    assert render("menu.main", t).replace("*", "") in reply
    assert render("more.none", t) not in reply


def test_more_with_nothing_to_show_is_the_menu_or_keeps_the_flow(c) -> None:
    chat = c.Chat().onboarded(language="af")
    t = get_translator("af")
    assert render("menu.main", t) in chat.send("Môre")  # at the menu: a greeting
    chat.send("5")
    assert chat.send("more") == render("more.none", t)  # inside a flow: the step is kept
    assert chat.step == "report_kind"


def test_new_message_drops_unsent_pages(c) -> None:
    chat = c.Chat(channel="sms").onboarded()
    chat.send("3")
    assert chat.state["more"]
    chat.send("6")
    assert "more" not in chat.state


def test_keywords_ignore_case_accents_and_punctuation(c) -> None:
    chat = c.Chat().onboarded()
    assert "*Help*" in chat.send("  HÉLP!! ")
    assert "*Your data*" in chat.send("My-Data")


def test_keyword_inside_a_sentence_is_not_a_keyword(c) -> None:
    chat = c.Chat().onboarded()
    chat.send("please do not stop the water")
    assert chat.effects == []


def test_fixed_clock_dates_are_used(c) -> None:
    chat = c.Chat(now=datetime(2025, 6, 20, 8, 0, tzinfo=UTC)).onboarded()
    reply = chat.send("4")
    assert "Water committee" not in reply  # 14 June has passed
    assert "City upgrading forum" in reply


def test_yes_opts_back_in_on_sms_like_twilio(c) -> None:
    chat = c.Chat(channel="sms").onboarded()
    chat.send("STOP")
    chat.send("YES")
    assert chat.effects == [OptIn()]


STILL_OUT = (
    "You have stopped messages from Siyakha. "
    "Reply START to begin again, or DELETE to remove your details."
)


def test_yes_by_sms_after_a_stop_by_whatsapp_does_not_opt_in(c) -> None:
    # Twilio blocked nothing (the STOP came by WhatsApp), and a "Yes" texted to something
    # else (a neighbour's question, by habit) is no request to start again (a POPIA audit).
    chat = c.Chat(channel="whatsapp").onboarded()
    chat.send("STOP")
    chat.channel = "sms"
    for text in ["Yes", "YES", "yes!"]:
        assert chat.send(text) == STILL_OUT
        assert chat.effects == []
    assert chat.record.opted_out
    chat.send("START")  # START by SMS opts in on every channel
    assert chat.effects == [OptIn()]
    assert chat.record.opted_out_channel is None


@pytest.mark.parametrize(("stopped_on", "started_on"), [("sms", "whatsapp"), ("whatsapp", "sms")])
def test_start_on_either_channel_lifts_a_stop_sent_on_the_other(c, stopped_on, started_on) -> None:
    chat = c.Chat(channel=stopped_on).onboarded()
    chat.send("STOP")
    assert chat.effects == [OptOut(channel=stopped_on)]
    chat.channel = started_on
    assert "Welcome back." in chat.send("START")
    assert chat.effects == [OptIn()]


def test_a_stop_by_sms_after_one_by_whatsapp_lets_yes_by_sms_opt_in(c) -> None:
    # Twilio now blocks the SMS number and unblocks it on YES: the engine keeps in step.
    chat = c.Chat(channel="whatsapp").onboarded()
    chat.send("STOP")
    assert chat.send("STOP") == STILL_OUT  # again by WhatsApp: nothing new to keep
    assert chat.effects == []
    chat.channel = "sms"
    assert chat.send("STOP") == STILL_OUT  # confirmed once, at the first STOP
    assert chat.effects == [OptOut(channel="sms")]
    assert "Welcome back." in chat.send("YES")
    assert chat.effects == [OptIn()]


def test_a_stop_by_whatsapp_after_one_by_sms_still_lets_yes_by_sms_opt_in(c) -> None:
    chat = c.Chat(channel="sms").onboarded()
    chat.send("STOP")
    chat.channel = "whatsapp"
    assert chat.send("STOP") == STILL_OUT
    assert chat.effects == []  # Twilio still blocks the SMS number until START or YES
    assert chat.send("yes") == STILL_OUT  # YES by WhatsApp never opted in
    chat.channel = "sms"
    chat.send("yes")
    assert chat.effects == [OptIn()]


def test_yes_by_sms_does_not_lift_an_opt_out_kept_without_its_channel(c) -> None:
    # Opted out before the channel was kept (migration 0012): it may have been by WhatsApp.
    chat = c.Chat(channel="sms").onboarded()
    chat.record.opted_out = True
    assert chat.send("YES") == STILL_OUT
    assert chat.effects == []
    chat.send("STOP")  # a STOP by SMS now is known to be one
    assert chat.effects == [OptOut(channel="sms")]
    chat.send("YES")
    assert chat.effects == [OptIn()]


@pytest.mark.parametrize("stopped_on", ["sms", "whatsapp"])
@pytest.mark.parametrize("answer", ["Yes", "YES", "1"])
def test_an_opted_out_sms_residents_yes_to_delete_erases_them(c, stopped_on, answer) -> None:
    # YES opts an SMS number back in, but here it answers the question on the screen.
    chat = c.Chat(channel=stopped_on).onboarded()
    chat.send("STOP")
    chat.channel = "sms"
    assert "Reply 1 to delete" in chat.send("DELETE")
    chat.send(answer)
    assert chat.effects == [EraseResident()]


def test_yes_does_not_opt_in_on_whatsapp(c) -> None:
    chat = c.Chat(channel="whatsapp").onboarded()
    chat.send("STOP")
    assert "Reply START" in chat.send("yes")
    assert chat.effects == []


def test_more_greeting_after_idle_still_asks_for_consent_first(c) -> None:
    chat = c.Chat()
    chat.send("Goeie more")
    chat.send("4")  # Afrikaans
    chat.wait(minutes=45)
    reply = chat.send("Môre")
    assert render("onboarding.consent_prompt", get_translator("af")) in reply
    assert chat.step == "consent"


@pytest.mark.parametrize("word", ["Help?", "HELP ?", "help??", "?", "Uncedo?", "Hulp ?"])
def test_a_trailing_question_mark_still_asks_for_help(c, word) -> None:
    chat = c.Chat().onboarded()
    chat.send("7")
    reply = chat.send(word)
    assert "*Help*" in reply
    assert chat.step == "settlement"  # HELP keeps the step


@pytest.mark.parametrize("word", ["Menu?", "Imenyu ?", "kieslys?"])
def test_a_trailing_question_mark_still_opens_the_menu(c, word) -> None:
    chat = c.Chat().onboarded()
    chat.send("5")
    assert chat.step == "report_kind"
    assert "*Main menu*" in chat.send(word)
    assert chat.step == "menu"


@pytest.mark.parametrize("word", ["Meetings?", "Iintlanganiso ?", "Vergaderings?"])
def test_a_trailing_question_mark_still_picks_a_menu_option(c, word) -> None:
    chat = c.Chat().onboarded()
    assert "Next meetings" in chat.send(word)


@pytest.mark.parametrize("word", ["Yes?", "Ja ?", "Ewe?"])
def test_a_trailing_question_mark_still_answers_yes(chat, word) -> None:
    chat.send("hi")
    chat.send("1")
    chat.send(word)
    assert chat.record.consented_at is not None
    assert chat.step == "settlement"


@pytest.mark.parametrize("word", ["stop?", "STOP ?", "Cancel?", "Yeka?", "Staak??"])
def test_a_question_about_stop_does_not_opt_out(c, word) -> None:
    chat = c.Chat().onboarded()
    reply = chat.send(word)
    assert chat.effects == []
    assert reply == render("menu.not_understood", get_translator("en"))


@pytest.mark.parametrize("word", ["delete?", "Cima ?"])
def test_a_question_about_delete_asks_for_its_confirmation(c, word) -> None:
    chat = c.Chat().onboarded()
    assert "cannot be undone" in chat.send(word)
    assert chat.effects == []
    assert chat.step == "delete_confirm"


@pytest.mark.parametrize("opted_out", [False, True])
def test_0_to_a_pending_delete_says_nothing_was_deleted(c, opted_out) -> None:
    chat = c.Chat(channel="sms").onboarded()
    if opted_out:
        chat.send("STOP")
    chat.send("DELETE")
    assert "Nothing was deleted" in chat.send("0")
    assert chat.effects == [] and chat.step == "menu"
    assert "Reply 1 to delete" not in chat.send("1")
    assert chat.effects == []


@pytest.mark.parametrize("word", ["HELP", "LANGUAGE", "MY DATA"])
def test_another_keyword_leaves_a_pending_delete_saying_so(c, word) -> None:
    chat = c.Chat().onboarded()
    chat.send("DELETE")
    reply = chat.send(word)
    assert reply.startswith("Nothing was deleted"), reply
    assert chat.effects == [] and chat.step != "delete_confirm"


@pytest.mark.parametrize(
    ("language", "channel", "word", "answer"),
    [
        ("en", "sms", "STATUS", "my_reports.none"),
        ("af", "whatsapp", "Stand", "my_reports.none"),
        ("af", "sms", "Kom", "meetings.attend_which"),
    ],
)
def test_status_and_attend_leave_a_pending_delete_saying_so_and_answer(
    c, language, channel, word, answer
) -> None:
    # They answered nothing there: "Nothing was deleted" and the menu, as for any word.
    chat = c.Chat(channel=channel).onboarded(language=language)
    chat.send("DELETE")
    reply = chat.send(word)
    tr = get_translator(language)
    assert reply.startswith(render("delete.cancelled", tr))
    params = {"choices": ""} if answer == "meetings.attend_which" else {}
    assert render(answer, tr, **params).splitlines()[0] in reply
    assert chat.effects == [] and chat.step != "delete_confirm" and chat.record.exists


def _help_words(text: str) -> list[str]:
    """Return the words HELP says work at any time: the lines "WORD or WORD: what it does"
    under its heading (the line ending ":")."""
    words: list[str] = []
    heading = False
    for line in text.split("\n"):
        if line.endswith(":"):
            heading = True
        elif heading and ": " in line:
            head = line.split(": ", 1)[0]
            words += re.split(r"\s+(?:or|okanye|noma|of|kapa)\s+", head)
    return words


@pytest.mark.parametrize("language", ["en", "xh", "zu", "af", "st"])
def test_every_word_help_says_works_at_any_time_is_read_inside_a_flow(c, language) -> None:
    # HELP said STATUS and ATTEND work "at any time"; inside a flow they were taken as the
    # answer to its question.
    chat = c.Chat().onboarded(language=language)
    words = _help_words(chat.send("HELP"))
    assert {"MENU", "STATUS", "ATTEND"} <= set(words)
    chat.send("5")  # a report started: the step answers what is not a keyword
    not_an_answer = chat.send("xyzzy")
    assert chat.step == "report_kind"
    for word in words:
        assert chat.send(word) != not_an_answer, word  # read as the keyword it is
        chat.send("START" if word.upper() == "STOP" else "0")
        chat.send("5")


@pytest.mark.parametrize(
    ("language", "status", "attend"), [("en", "STATUS", "ATTEND"), ("xh", "Imeko", "ndiza!")]
)
def test_status_and_attend_alone_work_from_any_step_and_a_draft_is_kept_not_sent(
    c, language, status, attend
) -> None:
    # STATUS dropped a report being written ("was not sent. Send 5 to start it again").
    tr = get_translator(language)
    kept = render("report.draft_kept", tr)
    chat = c.Chat().onboarded(language=language)
    for text in ["5", "1", "1"]:
        chat.send(text)  # a problem about water: its words asked for
    assert chat.step == "report_describe"
    reply = chat.send(status)
    assert render("my_reports.none", tr) in reply and reply.endswith(kept)
    assert chat.step == "menu" and chat.state["draft"]["step"] == "report_describe"
    chat.send("7")  # the settlement question
    reply = chat.send(attend)
    assert kept not in reply  # told once; and "5" under the list would pick a meeting
    assert chat.step == "attend_which" and chat.effects == []  # option 4's meetings offered
    chat.send("0")
    assert render("report.draft_resumed", tr) in chat.send("5")
    assert chat.step == "report_describe"  # the report kept is carried on
    # In a sentence, or STATUS with a number not of a report of theirs, they are its words.
    chat.send(f"{status} of the tap is bad")
    assert chat.step == "report_where"
    chat.send(f"{status} 45")  # a place: "Stand 45" in Afrikaans
    assert chat.step == "report_confirm"
