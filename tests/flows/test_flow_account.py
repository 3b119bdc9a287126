"""MY DATA (bot/flows/account.py): the settlement names typed that matched none or that wait
for a choice, a report started and not sent, and a channel our messages cannot reach, each
said only when so."""

from __future__ import annotations

import pytest

from bot import sms
from bot.content import render
from bot.engine.messages import Location, Media
from bot.i18n import get_translator

PHOTO = Media("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg")
VOICE = Media("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2", "audio/ogg")
PIN = Location(latitude=-33.9761, longitude=18.6323, address="Lane 4, Masakhane")

TYPED = "Settlement names you typed that we did not find"
BLOCKED = "messages cannot reach you at the moment."
UNSENT = "and have not sent it."
CHOOSING = "Settlement name you typed, waiting for you to choose from our list"


def test_my_data_quotes_back_the_settlement_names_typed_that_matched_none(c) -> None:
    chat = c.Chat().onboarded()
    assert TYPED not in chat.send("MY DATA")
    for name in ["Nowhere Heights", "Thandi's place, 14 Nkosi St", "Nowhere Heights"]:
        chat.send("7")  # change settlement
        assert "could not find" in chat.send(name)
    reply = chat.send("my data")
    # Each name once, in the order first typed, quoted as typed.
    assert f'{TYPED}: "Nowhere Heights", "Thandi\'s place, 14 Nkosi St"' in reply


@pytest.mark.parametrize(
    ("blocked", "said", "unsaid"),
    [
        ("sms", "Our SMS messages cannot reach you at the moment.", "Our WhatsApp"),
        ("whatsapp", "Our WhatsApp messages cannot reach you at the moment.", "Our SMS"),
    ],
)
def test_my_data_says_which_channel_our_messages_cannot_reach(c, blocked, said, unsaid) -> None:
    chat = c.Chat(channel="sms" if blocked == "whatsapp" else "whatsapp").onboarded()
    assert BLOCKED not in chat.send("MY DATA")
    setattr(chat.record, f"{blocked}_blocked", True)  # as the domain reads outbox routing
    reply = chat.send("MY DATA")
    assert said in reply and unsaid not in reply


def test_my_data_counts_what_an_unsent_report_holds_and_keeps_it(c) -> None:
    chat = c.Chat().onboarded()
    chat.send("5")
    assert UNSENT not in chat.send("MY DATA")  # asked "problem or question?": nothing chosen
    assert chat.step == "menu" and chat.state["draft"]["step"] == "report_kind"
    chat.send("5")  # carries on with it
    assert chat.step == "report_kind"
    chat.send("1")  # a problem
    assert chat.step == "report_category"
    chat.send("1")  # water
    chat.send("The standpipe on lane 4 leaks all day", media=(PHOTO, VOICE))
    assert chat.step == "report_where"
    reply = chat.send("MY DATA")
    assert "You started a report and have not sent it." in reply
    assert "Its category: Water" in reply
    assert "It holds your words." in reply
    assert "Photos and voice notes in it: 2" in reply
    assert "place you gave" not in reply and "location pin" not in reply
    assert chat.step == "menu"  # MY DATA keeps the report aside, as any word at any time
    chat.send("5")
    assert chat.step == "report_where"  # where it was
    chat.send("Next to the creche")
    reply = chat.send("my data")
    assert "It holds the place you gave." in reply and "location pin" not in reply
    chat.send("5")
    chat.send("", location=PIN)
    assert "It holds a location pin." in chat.send("my data")
    chat.send("5")
    assert chat.step == "report_confirm"
    chat.send("0")  # cancelled: the draft is gone
    assert UNSENT not in chat.send("MY DATA")


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ("1", "You started a report and have not sent it."),
        ("2", "You started a question and have not sent it."),
    ],
)
def test_my_data_names_an_unsent_draft_that_holds_only_its_kind(c, answer, said) -> None:
    chat = c.Chat().onboarded()
    chat.send("5")
    chat.send(answer)  # problem or question: nothing else yet
    assert chat.step == "report_category"
    reply = chat.send("MY DATA")
    assert said in reply
    assert "Its category" not in reply and "It holds" not in reply
    assert "Photos and voice notes" not in reply
    assert chat.step == "menu"  # MY DATA keeps the draft aside for 5
    chat.send("5")
    assert chat.step == "report_category"  # where it was
    chat.send("1")  # water
    assert chat.step == "report_describe"


@pytest.mark.parametrize("code", ["en", "xh", "af"])
def test_my_data_quotes_the_settlement_name_waiting_for_a_choice_and_keeps_it(c, code) -> None:
    t = get_translator(code)
    choosing = render("mydata.name_choosing", t, name="siya")
    chat = c.Chat().onboarded(language=code)
    assert choosing not in chat.send("MY DATA")
    chat.send("7")  # change settlement
    chat.send("siya")  # matched several: numbered choices
    assert chat.step == "settlement_choice"
    reply = chat.send("MY DATA")
    assert choosing in reply
    # Not a name we did not find: it waits for their choice.
    assert render("mydata.names_typed", t, names="").strip() not in reply
    if code == "en":
        assert f'{CHOOSING}: "siya"' in reply
    else:
        assert CHOOSING not in reply  # their language, not the English source
    assert chat.step == "settlement_choice"  # the choice is still theirs to make
    chat.send("1")
    assert chat.step == "menu" and choosing not in chat.send("MY DATA")


def test_my_data_names_an_unsent_question(c) -> None:
    chat = c.Chat(channel="sms").onboarded()
    for answer in ["5", "2", "8", "When will I be on the housing list?"]:
        chat.send(answer)
    assert chat.step == "report_confirm"
    reply = chat.send("MY DATA")
    assert "You started a question and have not sent it." in reply
    assert "Its category: Housing list" in reply and "It holds your words." in reply
    assert "Photos and voice notes" not in reply


def test_my_data_leaves_out_a_draft_set_aside_after_a_day(c) -> None:
    chat = c.Chat().onboarded()
    for answer in ["5", "1", "1", "The standpipe leaks"]:
        chat.send(answer)
    chat.wait(minutes=25 * 60)
    # Read at the main menu a day later, the draft goes with this very message.
    assert UNSENT not in chat.send("MY DATA")
    assert chat.step == "menu" and "data" not in chat.state


def test_my_data_in_afrikaans_says_what_else_is_kept(c) -> None:
    t = get_translator("af")
    new_lines = [
        render("mydata.names_typed", t, names="").strip(),
        render("mydata.sms_blocked", t),
        render("mydata.whatsapp_blocked", t),
        render("mydata.draft_problem", t),
        render("mydata.draft_words", t),
    ]
    chat = c.Chat().onboarded(language="af")
    reply = chat.send("my inligting")
    assert render("mydata.intro", t) in reply
    assert [line for line in new_lines if line in reply] == []
    chat.send("7")
    chat.send("Nêrens Hoogte")
    chat.record.sms_blocked = True
    for answer in ["5", "1", "1", "Die kraan lek"]:
        chat.send(answer)
    reply = chat.send("my inligting")
    assert render("mydata.names_typed", t, names='"Nêrens Hoogte"') in reply
    assert render("mydata.sms_blocked", t) in reply
    assert render("mydata.whatsapp_blocked", t) not in reply
    assert render("mydata.draft_problem", t) in reply
    category = render("report_category.water", t)
    assert render("mydata.draft_category", t, category=category) in reply
    assert render("mydata.draft_words", t) in reply
    assert "It holds your words." not in reply  # Afrikaans words, not the English source


@pytest.mark.parametrize("code", ["en", "xh", "zu", "af", "st"])
def test_my_data_with_every_line_is_paged_on_sms(c, code) -> None:
    t = get_translator(code)
    hint = render("more.hint", t)
    chat = c.Chat(channel="sms").onboarded(language=code)
    names = [
        "Nowhere Heights near the dam",
        "Thandi Mokoena 14 Nkosi Street",
        "Old Brickfields behind the taxi rank",
        "Ezinkwenkwezini Camp",
        "Quarry Road Top",
    ]
    for name in names:
        chat.send("7")
        chat.send(name)
    assert chat.record.unknown_names == names
    chat.record.whatsapp_blocked = True
    chat.record.sms_blocked = True
    for answer in ["5", "1", "1", "The standpipe on lane 4 leaks all day", "Next to the creche"]:
        chat.send(answer)
    assert chat.step == "report_confirm"
    pages = [chat.send("MY DATA")]
    while chat.state and chat.state.get("more"):
        pages.append(chat.send("MORE"))
    assert len(pages) > 1
    assert all(sms.segments(page) <= 3 for page in pages), pages
    text = "\n".join(page.removesuffix(hint) for page in pages)
    flat = " ".join(text.split())

    def line(msg_id: str, **params: object) -> str:
        return " ".join(render(msg_id, t, **params).split())

    quoted = ", ".join(f'"{name}"' for name in names)
    category = render("report_category.water", t)
    for expected in [
        line("mydata.names_typed", names=quoted),
        line("mydata.sms_blocked"),
        line("mydata.whatsapp_blocked"),
        line("mydata.draft_problem"),
        line("mydata.draft_category", category=category),
        line("mydata.draft_words"),
        line("mydata.draft_place"),
        line("mydata.footer"),
    ]:
        assert expected in flat, expected
    assert pages[0].startswith(render("report.draft_kept", t))  # said where it is read
    assert chat.step == "menu" and chat.state["draft"]["step"] == "report_confirm"
