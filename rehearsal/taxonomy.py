"""The eleven feedback labels (a contract: see the project's taxonomy) and their surface cues.

Cues are signs, not rules: the tagger uses them as features and to point at the evidence span.
"""

from __future__ import annotations

import re
from typing import Final

LISTENING: Final = ("reflection", "open_question", "validation")
ASSERTING: Final = ("i_statement", "request", "boundary")
PITFALLS: Final = ("blame", "criticism", "defensiveness", "stonewalling", "passive")
LABELS: Final = (*LISTENING, *ASSERTING, *PITFALLS)
SKILLS: Final = (*LISTENING, *ASSERTING)

TITLES: Final = {
    "reflection": "Reflection",
    "open_question": "Open question",
    "validation": "Validation",
    "i_statement": "I-statement",
    "request": "Clear request",
    "boundary": "Boundary",
    "blame": "Blame",
    "criticism": "Criticism",
    "defensiveness": "Defensiveness",
    "stonewalling": "Stonewalling",
    "passive": "Passive giving-in",
}


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


APOS = "'"
CUES: Final[dict[str, re.Pattern[str]]] = {
    "reflection": _rx(
        r"\b(it )?sounds like\b",
        r"\bso you(?:'re| are| feel|'ve)?\b",
        r"\byou(?:'re| are) (feeling|really|so|pretty|kind of|worried|scared|tired|exhausted|hurt|angry|frustrated|stuck|torn|lonely|afraid|proud|relieved)\b",
        r"\byou feel\b",
        r"\byou(?:'ve| have) been\b",
        r"\byou (miss|wish|want|need|wanted|hoped)\b",
        r"\bit feels like\b",
        r"\bif i(?:'m| am) hearing you\b",
        r"\bwhat i(?:'m| am) hearing\b",
        r"\bpart of you\b",
        r"\byou must (be|feel)\b",
        r"\bfor you\b",
    ),
    "open_question": _rx(
        r"^\W*(what|how|which|where|when|who|in what way|tell me|talk me through|walk me through|help me understand)\b[^?]*\?",
        r"\b(what|how) (do|did|does|would|could|is|was|are|has|have|might)\b[^?]*\?",
        r"\btell me (more|about)\b",
        r"\bi(?:'m| am) curious\b",
        r"\bi wonder (what|how)\b",
        r"\bwhat (else|matters|would help|was that like)\b",
        r"\bwho (else|could|would|might)\b[^?]*\?",
    ),
    "validation": _rx(
        r"\bthat makes (total |complete )?sense\b",
        r"\bmakes sense\b",
        r"\bi (can )?(see|understand|get) (why|how)\b",
        r"\banyone would\b",
        r"\bno wonder\b",
        r"\byou have every right\b",
        r"\bof course you\b",
        r"\bit'?s (understandable|fair|natural|normal)\b",
        r"\byou(?:'re| are) right\b",
        r"\bthat'?s (fair|a fair point|hard|tough|really hard|a lot)\b",
        r"\bi did\b(?! not)",
        r"\bmy (part|fault|bad)\b",
        r"\bi should have\b",
    ),
    "i_statement": _rx(
        r"\bi (feel|felt|get|got) (so |really |a bit |kind of )?(hurt|sad|angry|anxious|scared|lonely|tired|worried|upset|frustrated|overwhelmed|stretched|invisible|guilty|embarrassed|nervous|stuck|ashamed|alone|exhausted|drained)\b",
        r"\bi(?:'m| am) (feeling|so|really|pretty|a bit)? ?(hurt|sad|angry|anxious|scared|lonely|tired|worried|upset|frustrated|overwhelmed|exhausted|struggling|afraid)\b",
        r"\bi need\b",
        r"\bfor me\b",
        r"\bit matters to me\b",
        r"\bi(?:'ve| have) been (feeling|struggling|lonely)\b",
        r"\bi was (scared|hurt|worried|upset|afraid)\b",
        r"\bi miss\b",
        r"\bi feel\b(?! like you)(?! that you)",
    ),
    "request": _rx(
        r"\b(could|can|would|will) you (please )?\w+",
        r"\bwould you be (willing|open|up for)\b",
        r"\bcan we (agree|try|set|make|plan|pick|talk|sit|split|take|do)\b",
        r"\bi'?d (like|love) (us|you|it if)\b",
        r"\bhow about (we|you|if)\b",
        r"\bplease\b",
        r"\blet'?s (agree|try|set|plan|split|sit)\b",
        r"\bcould we\b",
    ),
    "boundary": _rx(
        r"\bi (won'?t|will not|can'?t|cannot|am not going to|'m not going to|'m not|am not) (be able to |able to )?(do|take|cover|lend|come|make|give|go|keep|accept|discuss|stay|work|be)\b",
        r"\bi(?:'m| am) not (willing|okay|ok|comfortable|available)\b",
        r"\b(that|the) decision is mine\b",
        r"\bno[,.!]? (i|not|thank|that)\b",
        r"^\W*no\b",
        r"\bi(?:'m| am) going to (leave|hang up|go|end)\b",
        r"\bif (you|the) .{0,40}(again|continue)s?,? i(?:'ll| will)\b",
        r"\bnot (this|any more|anymore)\b",
    ),
    "blame": _rx(
        r"\byou (always|never|constantly|keep)\b",
        r"\b(your|ur) fault\b",
        r"\bbecause of you\b",
        r"\bthanks to you\b",
        r"\byou made me\b",
        r"\bwhy (do|can'?t|won'?t|are|did|didn'?t|would|is it) (you|it)\b.*\?",
        r"\byou (should|shouldn'?t) have\b",
        r"\byou (ruined|forgot|left|broke|let)\b",
    ),
    "criticism": _rx(
        r"\byou(?:'re| are) (so|such a|just|being|a|an|completely|totally|really) (selfish|lazy|useless|pathetic|ridiculous|childish|stupid|immature|dramatic|impossible|joke|mess|liar|control freak|baby|hypocrite)\b",
        r"\b(pathetic|ridiculous|selfish|lazy|useless|stupid|idiot|grow up|real mature|typical|unbelievable|joke)\b",
        r"\b(oh|yeah),? (sure|right|great)\b",
        r"\bwhat(?:'s| is) wrong with you\b",
        r"\bshut up\b",
        r"\bsuch a\b",
        r"\*\w+\*",
        # contempt and sarcasm (Gottman's worst horseman): mock praise, put-downs, names
        r"\b(oh|ooh|wow|well),? (well done|bravo|congratulations|how (nice|lovely|thoughtful|brave|generous|mature))\b",
        r"\b(must be nice|good for you|nice one|thanks a lot|surprise,? surprise|what a (shock|surprise|joke)|shocker)\b",
        r"\b(first time for everything|heaven forbid|spare me|get over yourself|cry me a river|boo hoo|give me a break)\b",
        r"\bwho (died and made you|do you think you are)\b",
        r"\b(genius|einstein|sherlock|princess|drama queen|martyr|snowflake|loser|clown|moron|muppet|numpty|prat)\b",
    ),
    "defensiveness": _rx(
        r"^\W*(that'?s not true|that'?s not fair|not true|well,? you\b|it'?s not my fault|what do you expect|what do you want from me|i was (just|only)|it'?s not like i)",
        r"\bnot my (problem|fault)\b",
        r"\bi only did (that|it) because\b",
        r"\bat least i\b",
        r"\bi had (no choice|to)\b",
        r"\byou(?:'re| are) one to talk\b",
        # excuses, minimising and counter-complaints (Gottman's defensiveness)
        r"^\W*(i was (busy|working|tired)|i'?ve been (busy|working)|i did my best|i'?m doing my best|i tried)\b",
        r"\b(what|how) (was|am) i (supposed|meant) to\b|\bwas i (meant|supposed) to\b",
        r"\bit was (only |just )?(one|once|a joke|banter|ages ago)\b|\bit'?s not (a big deal|that bad|like)\b",
        r"\byou(?:'re| are) (way |being )?(too sensitive|overreacting)\b|\byou can talk\b|\bwhat about you\b",
        r"\b(i'?m|always) the bad guy\b|\bwhy is it always me\b|\bdon'?t (start|blame me)\b|\bin my defen[cs]e\b",
        r"^\W*(i did not|i never|no i didn'?t)\b",
    ),
    "stonewalling": _rx(
        r"^\W*(whatever|fine|forget it|i'?m done|leave me alone|talk to the hand|not now|drop it)\b[\W]*$",
        r"\bi(?:'m| am) (done|not discussing|not talking)\b",
        r"\bi don'?t (want|care) to (talk|discuss)\b",
        r"^\W*(\.\.\.|…)\W*$",
        r"\bend of (discussion|story)\b",
        r"\bi(?:'m| am) going out\b",
        # withdrawal: one-word brush-offs, leaving, refusing to engage (Gottman's stonewalling)
        r"^\W*(k|kk|mm+|hm+|yep|nope|bye|later|busy|no comment|not interested|can'?t be bothered|cba|meh|don'?t care|who cares)\W*$",
        r"\b(can we not|let'?s not|drop it|leave it|stop asking|go away|not discussing|count me out)\b",
        r"\b(gotta|got to|have to) (go|run|dash)\b|\bgoing (for a (walk|drive|run)|to bed)\b|\bi'?m off\b",
        r"\b(do|say) whatever( you (want|like))?\b|\bwhatever you (say|want|think)\b|\bnothing'?s wrong\b",
        r"\bnothing (more|else) to say\b|\bwe'?re done\b|\bi'?m not (getting into|having) this\b",
    ),
    "passive": _rx(
        r"\b(sorry,? ){2,}",
        r"\bnever ?mind\b",
        r"\bit doesn'?t matter\b",
        r"\bforget i said\b",
        r"\bi'?ll just\b",
        r"\bit'?s fine,? (really|honestly|don'?t worry)\b",
        r"\bi(?:'m| am) (being )?(silly|stupid|overreacting|dramatic)\b",
        r"\bif (it'?s|that'?s) (ok|okay|alright)\b",
        r"\bno,? no,? (it'?s|you'?re)\b",
        r"\bdon'?t worry about (it|me)\b",
    ),
}


def cue_spans(text: str) -> dict[str, tuple[int, int]]:
    """For each label whose cue appears in `text`, the (start, end) of its first match."""
    text = text.replace("’", APOS)
    found = {}
    for label, rx in CUES.items():
        if match := rx.search(text):
            found[label] = match.span()
    return found
