"""Crisis detection on every user line, before the counterpart model sees it.

Four categories: suicidal ideation (explicit, implicit, plans or means), self-harm, being harmed
(violence, threats, coercive control), and harming others. Fast, offline and deterministic: cue
patterns written for each category, with the hyperbole of heated role-play ("I could kill you for
forgetting our anniversary", "this commute is killing me") and talk of a past, resolved or someone
else's experience kept apart. Recall comes first: a doubt is a pause, since the user can confirm
the line was part of the role-play and carry on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from rehearsal.errors import RehearsalError

if TYPE_CHECKING:
    from rehearsal.tagger import Encoder


class Category(StrEnum):
    """What kind of danger a line discloses."""

    suicidal_ideation = "suicidal_ideation"
    self_harm = "self_harm"
    being_harmed = "being_harmed"
    harming_others = "harming_others"


@dataclass(frozen=True)
class SafetyCheck:
    """The verdict on one line."""

    crisis: bool
    category: Category | None = None
    cue: str = ""  # the pattern group that fired (never the user's text)


class CrisisDetected(RehearsalError):
    """The user's line may disclose real danger: the role-play pauses and the counterpart is not called."""

    def __init__(self, check: SafetyCheck):
        self.check = check
        super().__init__(f"the role-play is paused: this line may be about real danger ({check.category})")


def _rx(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE)


ME = r"(?:me|myself)"
PARTNER = (
    r"(?:he|she|they|him|her|them|my (?:husband|wife|partner|boyfriend|girlfriend|bf|gf|fianc[eé]e?|ex|dad|father"
    r"|mum|mom|mother|stepdad|stepmum|stepmom|brother|sister|son|daughter|uncle|aunt|boss|flatmate|housemate|carer))"
)
VIOLENCE = (
    r"(?:hit|hits|hitting|beat|beats|beating|beaten|punch(?:ed|es|ing)?|kick(?:ed|s|ing)?|chok(?:e|ed|es|ing)"
    r"|strangl(?:e|ed|es|ing)|slap(?:ped|s|ping)?|shov(?:e|ed|es|ing)|push(?:ed|es|ing)?|thr[eo]w(?:s|n)? (?:things|stuff|a \w+) at"
    r"|rap(?:e|ed|es|ing)|burn(?:ed|t|s)|bit|grab(?:bed|s)? me by|pinn(?:ed|s) me|dragg?(?:ed|s) me)"
)

PATTERNS: dict[Category, re.Pattern[str]] = {
    Category.suicidal_ideation: _rx(
        r"\b(?:kill|killing|end|ending|hang|hanging|shoot|shooting|off|drown|drowning) (?:myself|my own life)\b",
        r"\b(?:kms|kys myself|unalive (?:myself|me))\b",
        r"\btak(?:e|ing) my (?:own )?life\b",
        r"\bend(?:ing)? (?:it all|it|things|everything)(?: all)?\b(?! (?:with|between) )",
        r"\b(?:i'?m|i am|been|feel(?:ing)?|get|getting) (?:so |really |pretty |very )?suicidal\b",
        r"\b(?:my )?suicid(?:e|al) (?:note|letter|plan|thoughts?|attempt)s?\b",
        r"\b(?:attempt(?:ed|ing)?|try(?:ing)?|tried|thinking about|think about|planning|plan) (?:to )?(?:suicide|kill myself|end it)\b",
        r"\b(?:want|wanna|wanted|wish|ready|going|gonna|planning) (?:to |i (?:was|were|could) )?(?:die|be dead|disappear (?:forever|for good|permanently)|not exist|stop existing)\b",
        r"\bwish(?:ing)? i (?:was|were|had) (?:never been born|dead|not here|gone)\b",
        r"\b(?:i )?(?:don'?t|do not|no longer|dont) want to (?:be alive|live|exist|be here|wake up|go on|keep going)\b",
        r"\b(?:better off|happier|easier) (?:dead|without me|if i (?:was|were|wasn'?t|weren'?t) (?:here|around|gone|dead|alive))\b",
        r"\b(?:no|not any|isn'?t any|there'?s no) (?:point|reason) (?:in |to )?(?:living|being alive|going on|carrying on|waking up|being here|staying alive|life|anymore|any more)\b",
        r"\b(?:can'?t|cannot|can not) (?:go on|keep going|do (?:this|life) anymore|take (?:it|this) anymore|carry on)\b",
        r"\b(?:won'?t|will not|not going to|ain'?t gonna|shan'?t) be (?:here|around|alive)\b",
        r"\b(?:won'?t|will not|not) (?:need|be needing) (?:it|them|this|that|any of (?:it|this)|my \w+) (?:after|anymore|any more|much longer|where i'?m going)\b",
        r"\bnot (?:planning on|planning to|going to be) (?:be(?:ing)? )?(?:here|around|alive)\b",
        r"\b(?:sleep|go to sleep|fall asleep|close my eyes) and (?:never|not) wake up\b",
        r"\b(?:never|not) wake up again\b",
        r"\b(?:sav(?:ed|ing)|stockpil\w+|hoard\w*|collect(?:ed|ing)|kept|keeping|count(?:ed|ing)) (?:up )?(?:all )?(?:my |the |enough |some )?(?:pills|tablets|meds|medication|paracetamol|painkillers|sleeping pills)\b",
        r"\b(?:take|took|swallow(?:ed)?|down(?:ed)?) (?:all|the whole (?:bottle|packet|box)|a (?:bottle|packet|box)|every one) (?:of )?(?:my |the |them|those )?(?:pills|tablets|meds)?",
        r"\b(?:i|i'?ve|i'?ll|i'?d|gonna|going to|want to|thinking about|think about|could|might|planning to) (?:\w+ ){0,3}overdos(?:e|ed|ing)\b(?! on (?:coffee|sugar|chocolate|caffeine|netflix|tv))",
        r"\b(?:jump|jumping|throw myself) (?:off|from|in front of|under)\b",
        r"\b(?:bought|got|have|found|tied|buy|buying) (?:a |the |some )?(?:rope|noose|gun|shotgun)\b(?! (?:for|to) (?:the|my) (?:boat|climbing|tent|hunting|swing))",
        r"\b(?:goodbye|farewell|last) (?:letters?|notes?|messages?|texts?)\b",
        r"\bwr(?:ote|itten|iting) (?:letters?|notes?) (?:to|for) (?:everyone|my (?:kids|family|children|parents|mum|mom|dad))\b",
        r"\bgiv(?:e|ing|en) (?:away )?(?:all )?(?:my|all my) (?:things|stuff|belongings|possessions|clothes) away\b",
        r"\bgiv(?:ing|en|e) away (?:all )?(?:my|all my) (?:things|stuff|belongings|possessions)\b",
        r"\b(?:say(?:ing)?|said) (?:my )?(?:last |final )?goodbyes? to (?:everyone|you all|my (?:kids|family|children|friends))\b",
        r"\b(?:burden|weight) (?:on|to) (?:everyone|you all|my family|them|you)\b",
        r"\beveryone(?:'d| would) be (?:better|fine|happier|relieved)\b",
        r"\b(?:the )?world (?:would be|is) better (?:off )?without me\b",
        r"\bno one (?:would|will) (?:miss|notice|care) (?:me|if i)\b",
        r"\bwhat'?s the point (?:of|in) (?:living|me|being alive|anything|waking up|going on|carrying on)\b",
        r"\bi'?m (?:done|finished) with (?:life|living|everything|it all)\b",
        r"\b(?:this|tonight|today|friday|tomorrow|sunday|monday) (?:is|will be) (?:my|the) last (?:day|night|time)\b",
        r"\bnot (?:be )?(?:here|around) (?:much longer|by|next|for (?:long|much))\b",
        r"\bdisappear (?:forever|for good|permanently)\b",
        r"\bstep(?:ped)? (?:off|in front of)\b",
        r"\b(?:the|which|that) (?:bridge|cliff|train line|railway|tracks|motorway bridge)\b.*\b(?:know|picked|chosen|found|went to)\b",
        r"\b(?:know|picked|chosen|found) (?:which|the|a) (?:bridge|cliff|spot|place|train)\b",
        r"\bresign from life\b",
        r"\b(?:garage|car) with the engine running\b",
        r"\b(?:sorted|settled|done) before i go\b|\b(?:before|after|once|when) i'?m (?:gone|dead)\b|\bafter i die\b",
        r"\bwelcome (?:a heart attack|death|an accident|a crash)\b|\bhope (?:the plane|the train|my car|i) (?:goes down|crashes|gets? hit|doesn'?t wake|don'?t wake)\b",
        r"\b(?:hate|sick of|tired of) (?:that i'?m |being )?(?:still )?(?:here|alive|existing)\b|\bwaking up and being disappointed\b",
        r"\b(?:research\w*|looked up|look(?:ing)? up|googl\w+|reading (?:about|forums))\b.{0,40}\b(?:suicide|methods?|how (?:high|tall|many|much|long)|tallest|lethal|how (?:they'?d|to) do it)\b",
        r"\btried (?:last \w+|before|once) and it didn'?t work\b|\bnext time it will\b",
        r"\bput up with me (?:much|any) longer\b",
        r"\b(?:rather|sooner) be dead\b.{0,40}\b(?:literally|mean (?:it|that)|seriously|not joking)\b",
        r"\btak(?:e|ing) (?:all|everything) (?:in|from) the (?:medicine |bathroom )?cabinet\b",
        r"\blike it was the last time\b|\bthe last thing (?:she|he|they) (?:will )?remembers? (?:from|of|about) me\b",
        r"\b(?:already decided|made my decision)\b.{0,60}\b(?:peace|next month|this weekend|tonight|soon)\b|\bat peace with (?:it|my decision)\b|\bmade (?:my )?peace with (?:it|dying|going)\b",
        r"\bmade (?:up )?my mind\b.{0,30}\b(?:this weekend|tonight|tomorrow|soon|friday|saturday|sunday|date)\b",
        r"\b(?:a|my) plan and a date\b|\bpicked a date\b|\bhaving a plan is\b|\bi have a plan\b",
        r"\b(?:clock(?:ing)? out|switch(?:ing)? off|check(?:ing)? out|log(?:ging)? off|go(?:ing)?|leav(?:e|ing)) (?:permanently|for good|forever)\b",
        r"\b(?:taken|took|swallowed) (?:a lot|loads|a load|a bunch|handfuls?) of (?:something|pills|tablets|them)\b",
        r"\bready to (?:go|stop|die) now\b|\bready to stop (?:paying|living|existing)\b",
        r"\bpicked (?:my|the|a) spot\b|\bright moment to go\b",
        r"\b(?:future i'?m not having|no future for me|not having a future)\b",
        r"\bvoices\b.{0,50}\b(?:tonight|kill|die|do it|end it|the night)\b",
        r"\bgave away (?:my|all my)\b",
        r"\bend(?:ing)? my life\b|\bthe thing i'?m ending\b",
        r"\bwon'?t get (?:another|the) chance (?:to|\.|$)",
        r"\b(?:still )?alive by (?:christmas|summer|spring|next|the end|then)\b|\bdon'?t see myself (?:still )?(?:here|alive|around)\b",
        r"\bwon'?t be (?:there|here) for (?:it|the|her|his)\b",
        r"\bhow many (?:paracetamol|pills|tablets|sleeping pills)\b",
        r"\brope'?s? (?:is )?in (?:the|my)\b",
        r"\bpray i (?:won'?t|don'?t|never) wake\b",
        r"\bsuicide (?:is|has been) (?:all|on my mind|what)\b|\bthought about suicide\b",
        r"\blife insurance\b.{0,60}\b(?:them|kids|help|more than|for)\b",
        r"\b(?:be|i'?ll be) gone before\b|\bproperly gone\b|\bgone for good\b",
        r"\btired of (?:existing|living|being alive|life)\b",
        r"\bworld (?:is|would be) (?:kinder|better|lighter) without me\b|\bwithout me in it\b",
        r"\bremember (?:that|this) after\b",
        r"\bdebt\b.{0,40}\bonce i'?m dead\b|\bonce i'?m dead\b",
    ),
    Category.self_harm: _rx(
        r"\b(?:cut|cutting|cuts|burn|burnt|burned|burning|hurt|hurting|harm|harming|hit|hitting|punch(?:ed|ing)?|scratch(?:ed|ing)?|bang(?:ed|ing)?|starv(?:e|ed|ing)|punish(?:ed|ing)?|bite|biting|carv(?:e|ed|ing)) (?:myself|my (?:arms?|legs?|wrists?|thighs?|skin|stomach|head|hips?))\b",
        r"\bself[- ]?harm(?:ed|ing)?\b",
        r"\bself[- ]?injur\w*\b",
        r"\b(?:cut|cutting|burn(?:ed|t)?|hurt) (?:again|last night|this morning|tonight|today)\b",
        r"\b(?:relaps(?:e|ed|ing)) (?:with|into)? ?(?:cutting|self[- ]?harm|hurting myself)?\b(?=.*\b(?:cut|harm|hurt|blade|razor|burn))",
        r"\b(?:hid(?:e|ing)?|cover(?:ing)?|hidden) (?:the |my )?(?:marks|scars|cuts|burns|bruises|wounds)\b",
        r"\b(?:razor|blade|blades|lighter)\b.*\b(?:skin|arm|arms|wrist|thigh|myself|feel|again)\b",
        r"\b(?:fresh|new) (?:cuts|marks|scars|burns)\b",
        r"\bto feel something\b",
        r"\b(?:deserve|deserved) (?:to (?:hurt|bleed|be hurt|suffer)|the pain)\b",
        r"\b(?:make|made) myself (?:bleed|sick|throw up)\b",
        r"\b(?:only|just) thing that (?:helps|works|calms me)\b.*\b(?:pain|hurt|cut|burn|blade|myself)\b",
        r"\b(?:arm|wrist|leg|thigh)'?s? (?:is )?bleeding\b",
        r"\b(?:new|another|fresh) (?:mark|cut|scar|burn)\b",
        r"\bcutting (?:after|before|when|every|at night|myself|again|is the only)\b",
        r"\b(?:bandages|plasters)\b.{0,60}\b(?:mine|i do|again|hide|hiding|know why)\b",
        r"\b(?:slammed|burned|burnt|hit|cut|scratched|punched|banged)\b.{0,40}\b(?:deliberately|on purpose|wasn'?t an accident)\b",
        r"\b(?:throwing up|make myself sick|purging) after (?:eating|meals|every)\b",
        r"\bcarv(?:e|ed|ing) (?:\w+ )?into my\b",
        r"\b(?:pinch|twist|scratch|pick)\w* (?:at )?my skin\b",
        r"\b\d+ ?cals? a day\b",
        r"\bcan'?t wear short sleeves\b|\blong sleeves\b.{0,40}\b(?:obvious|always|hide|you know why)\b",
        r"\b(?:need|deserve) to be punished\b",
        r"\bscrub(?:bed|bing)? my skin raw\b|\bbleach\b.{0,30}\bmy skin\b",
        r"\b(?:used|took) (?:a |my |the )?(?:compass|razor|blade|knife|lighter|scissors) (?:on|to) my\b",
        r"\bholding (?:a|the) (?:razor|blade|knife)\b",
        r"\bblood on the (?:towels|sheets)\b",
    ),
    Category.being_harmed: _rx(
        rf"\b{PARTNER} (?:(?:has|had|have|keeps?|kept|always|still|just|sometimes|often|)\s?)?{VIOLENCE} (?:me|us|my (?:mum|mom|son|daughter|kids|children|baby|brother|sister|little \w+))\b",
        rf"\b{PARTNER} (?:said|says|told me|threaten(?:s|ed)?|swore|promised|warned)\b.{{0,60}}\b(?:kill|hurt|hit|beat|take the kids|burn|finish|end) (?:me|us|you|my|the kids|himself|herself)\b",
        r"\bthreaten(?:s|ed|ing)? (?:to )?(?:kill|hurt|hit|beat|take the kids|burn)\b",
        r"\b(?:scared|afraid|terrified|frightened|too scared) (?:to go|of going|to be|of being) (?:home|back|alone with (?:him|her|them))\b",
        r"\b(?:scared|afraid|terrified|frightened) (?:of )?(?:what )?(?:he|she|they)(?:'ll| will| might| would)? (?:do|hurt|kill|hit|find)\b",
        r"\b(?:scared|afraid|terrified|frightened) (?:of )?(?:my (?:husband|wife|partner|boyfriend|girlfriend|dad|father|mum|mom|mother|stepdad|ex))\b",
        r"\b(?:won'?t|doesn'?t|don'?t|didn'?t|wouldn'?t) let me (?:leave|go out|see|talk to|have (?:my own|a|any)|use|work|call|text|out|sleep|eat)\b",
        r"\b(?:not|never) allowed to (?:see|go|leave|talk|have|call|text|work|spend|wear|eat)\b",
        r"\b(?:takes|keeps|kept|controls|has|took all|takes all|won'?t give me) (?:all )?(?:of )?my (?:bank ?card|cards|money|wages|salary|phone|passport|keys|car keys|benefits|pin)\b",
        r"\b(?:checks?|checking|goes through|tracks?|tracking|reads?) my (?:phone|messages|texts|location|emails|bank)\b.*\b(?:every|all the time|won'?t|not allowed|scared|makes me|or else|if i)\b",
        r"\b(?:locked|locks|locking|lock) me (?:in|out)\b",
        r"\b(?:following|followed|follows|stalking|stalked|stalks|watching) me\b(?! on (?:instagram|twitter|x|tiktok|insta))",
        r"\b(?:outside my (?:house|flat|work|door)) (?:again|every|all)\b",
        r"\b(?:forced|forces|forcing|pressur(?:ed|es|ing)|made|makes) me (?:to )?(?:have sex|sleep with|do (?:things|stuff) i|into sex|watch)\b",
        r"\b(?:raped|sexually assaulted|molest\w*|touch(?:es|ed)? me when i)\b",
        r"\b(?:bruises?|black eye|broken (?:rib|arm|nose|wrist)) (?:from|because|where|that) (?:he|she|they|him|her)\b",
        r"\b(?:he|she|they) (?:hurt|hurts|hurting) (?:my (?:kids|baby|children|son|daughter)|the (?:kids|baby|children))\b",
        r"\bhiding (?:in|from)\b.{0,30}\b(?:him|her|them|bathroom|car)\b",
        r"\b(?:don'?t|do not|can'?t) feel safe (?:at home|with (?:him|her|them)|in my (?:own )?(?:house|home|flat))\b",
        r"\bnot safe (?:at home|with (?:him|her|them)|in my (?:own )?(?:house|home|flat)|to go home)\b",
        r"\b(?:if i leave|if i tell anyone|if i go to the police)\b.{0,40}\b(?:kill|hurt|take|find|ruin)\b",
        r"\b(?:hits|beats|hurts|smacks|kicks) (?:the|my) (?:kids|children|baby|little (?:one|brother|sister)|son|daughter|grandad|grandma|nan)\b",
        r"\bwalking on eggshells\b.{0,60}\b(?:scared|afraid|hit|hurt|temper|rage)\b",
        r"\b(?:takes?|took|keeps?) (?:my|all my|my whole) (?:salary|wages|pay|pension|benefits)\b",
        r"\bso i can'?t (?:contact|call|see|talk to) anyone\b",
        r"\b(?:he|she)'?s getting angry again\b",
        r"\bstarves? me\b",
        r"\bhelp,? (?:he|she|they)'?s? (?:is |are )?back\b",
        r"\bthrew (?:a|the) \w+ at (?:my|me)\b|\bnext time (?:she|he) won'?t miss\b",
        r"\b(?:our|my) \w+ (?:hits|beats|slaps|kicks|punches) (?:us|me)\b",
        r"\bif dinner'?s not ready\b",
    ),
    Category.harming_others: _rx(
        r"\b(?:going to|gonna|will|want to|wanna|plan(?:ning)? to|about to|could easily|i'?ll) (?:really |actually |seriously )?(?:hurt|kill|stab|shoot|strangle|poison|smother|run over|beat up|attack|burn)\b"
        r" (?:him|her|them|someone|somebody|people|the baby|my (?:\w+ ){0,2}(?:baby|son|daughter|kids|wife|husband|partner|boss|mum|mom|dad|ex|neighbou?r|brother|sister))\b"
        r"(?! (?:for|if|when) (?:forgetting|eating|being|doing|saying|not|leaving|using|taking|borrowing|spoiling|telling|losing|breaking|touching|he|she|they|you)\b)",
        r"\b(?:knife|gun|weapon|bat|hammer|blade|poison|petrol|acid)\b.{0,60}\b(?:him|her|them|his|their|pay|ready|car|waiting|tonight|bag)\b",
        r"\b(?:him|her|them|he|she|they)\b.{0,60}\b(?:knife|gun|weapon|hammer|poison|petrol|acid)\b",
        r"\bmake (?:him|her|them) pay\b",
        r"\b(?:scared|afraid|terrified|frightened|worried) (?:that )?i(?:'ll| will| might| could| am going to) (?:hurt|harm|kill|shake|smother|drop|hit|do something to)\b",
        r"\b(?:thought|thoughts|thinking|fantasi[sz]\w*|imagin\w*) (?:about|of) (?:hurting|killing|stabbing|smothering|running (?:him|her|them) over|running (?:his|her|their) car off|poisoning|hitting)\b",
        r"\b(?:run|running|drive|driving|ran) (?:his|her|their|them|him) (?:car )?(?:off|over)\b",
        r"\b(?:revenge|get back at)\b.{0,60}\b(?:hurt|knife|gun|burn|kill|pay|car|house|blood)\b",
        r"\b(?:ended up|nearly|almost) (?:hurting|hitting|strangling|smothering|shaking) (?:him|her|them|the baby)\b",
        r"\b(?:burn|torch|set fire to) (?:his|her|their) (?:house|flat|car|place)\b",
        r"\b(?:put|slip|slipped|putting) (?:something|bleach|pills|poison|rat poison) (?:in|into) (?:his|her|their)\b",
        r"\bhurt (?:the baby|my baby|the kids|my kids|a child)\b",
        r"\bput (?:you|him|her) through (?:a|that|the) (?:window|wall)\b",
        r"\bbeen rough with (?:her|him|them)\b|\bpushed my (?:grand\w+|nan|gran|mum|mom|dad)\b",
        r"\bi pinch (?:the|my|her|him)\b",
        r"\b(?:got|have|found) (?:his|her|their) (?:rego|reg|number plate|address)\b",
        r"\bteach (?:him|her|them) a lesson\b.{0,40}\b(?:bats?|knife|gun|tonight|hurt)\b",
        r"\b(?:he|she|they)'?ll be in hospital\b",
        r"\bpillow over (?:her|his|their) face\b",
        r"\bbefore i (?:hurt|kill|hit|stab) (?:her|him|them)\b",
        r"\busing it on (?:my|him|her|them)\b",
        r"\bkill (?:the lot of them|them all|everyone|all of them)\b.{0,30}\bfeel nothing\b",
        r"\bsee it on the news\b|\bshoot up (?:the|my)\b",
        r"\b(?:pistol|gun|rifle|knife)\b.{0,20}\bto (?:school|work|the office|college|uni)\b",
        r"\brun (?:him|her|them) down\b",
        r"\blist of names\b",
    ),
}

# Ways of speaking that look like danger but are not: idioms and hyperbole, checked on the
# matched stretch and the words around it.
HYPERBOLE = _rx(
    r"\b(?:could|gonna|going to|will|i'?ll|i'?d|want to|wanna) (?:literally |actually )?(?:kill|murder|strangle|throttle) (?:you|him|her|them)\b.{0,40}\b(?:for|if|when)\b",
    r"\bkill me now\b",
    r"\b(?:is|are|it's|that's|you're|they're|this \w+|these \w+|the \w+) (?:literally |actually |slowly |honestly )?killing me\b",
    r"\bkill(?:ed|ing)? (?:it|the vibe|the mood)\b",
    r"\b(?:dying|dead) (?:to|for|tired|on my feet|inside lol)\b",
    r"\b(?:rather|sooner) (?:die|jump|be dead)\b.{0,40}\bthan\b",
    r"\b(?:strangle|kill|murder|throttle) (?:my \w+|him|her|them|you)\b.{0,30}\b(?:he|she|they|you) (?:ate|took|used|forgot|broke|left|borrowed|finished)\b",
    r"\bwant(?:ed)? the (?:ground|floor|earth) to swallow me\b",
    r"\bover my dead body\b",
    r"\b(?:nearly|almost) died (?:laughing|of embarrassment|of shame)\b",
    r"\bkill (?:for|two birds)\b",
)
# Talk about the past that is over, someone else, work, fiction or games.
SAFE_CONTEXT = _rx(
    r"\b(?:stopped|quit|gave up) (?:self-harming|self harming|cutting|hurting myself)\b",
    r"\bin a good place\b",
    r"\b(?:used to|as a (?:teen|teenager|kid|child|student)|when i was (?:young|younger|a teen|\d+|\w+teen|at (?:school|uni))|years ago|in my twenties|back in (?:school|uni|the day|\d{4}))\b",
    r"\b(?:in recovery|recovered|better place now|doing (?:much |so )?better now|haven'?t (?:done|hurt|cut) (?:that|myself|it) (?:in|for)|clean for|(?:\d+|two|three|four|five|six|seven|eight|nine|ten) (?:years|months) (?:clean|free|since))\b",
    r"\b(?:ward|patients?|clients?|nurse|paramedic|calls are part of|on shift|volunteer(?:ing)?|helpline|training|course|module|lecture|essay|research|article|documentary|podcast|novel|film|movie|series|episode|book|character|game|level|boss fight|elden ring|fortnite|minecraft|news|headline)\b",
    r"\b(?:his|her|their|my (?:mum|mom|dad|father|mother|brother|sister|friend|uncle|aunt|grandad|grandfather|grandma|grandmother|cousin)(?:'s)?) (?:suicide|overdose|death|funeral|attempt)\b",
    r"\b(?:killed (?:him|her|them)self|took (?:his|her|their) (?:own )?life|died by suicide)\b",
    r"\bmy (?:mum|mom|dad|father|mother|brother|sister|friend|uncle|aunt|son|daughter|cousin|partner|husband|wife) (?:overdosed|attempted|self-harmed|cut (?:him|her)self)\b",
)
# Recovery stated outright wins over any sign of the present ("three years free of it today").
RECOVERED = _rx(
    r"\b(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten) (?:days|weeks|months|years) (?:free of|clean from|clean of|since i last)\b",
)
# Signs that a past or second-hand mention is in fact current.
CURRENT = _rx(
    r"\b(?:again|last night|this morning|tonight|today|yesterday|this week|right now|at the moment|these days|lately|started|keep|can'?t stop)\b",
)


def normalise(text: str) -> str:
    """Lowercase, plain apostrophes, single spaces; a few texting spellings spelt out."""
    flat = text.replace("’", "'").replace("‘", "'").lower()
    flat = re.sub(r"\b(?:im)\b", "i'm", flat)
    flat = re.sub(r"\b(?:dont)\b", "don't", flat)
    flat = re.sub(r"\b(?:cant)\b", "can't", flat)
    flat = re.sub(r"\b(?:wont)\b", "won't", flat)
    flat = re.sub(r"\bu\b", "you", flat)
    return re.sub(r"\s+", " ", flat).strip()


class CrisisDetector:
    """Screens one line at a time; the same verdict every run.

    Two layers, either of which pauses: the cue rules below, then (when trained weights are
    present) a logistic model over the packaged MiniLM sentence embedding and hashed word n-grams,
    fit on the tuning set only, whose threshold was set for recall. The model catches the indirect
    ways people say these things that no list of cues anticipates.
    """

    def __init__(self, model: SafetyModel | None = None, encoder: Encoder | None = None, use_model: bool = True):
        self._model, self._encoder, self.use_model = model, encoder, use_model

    def _learned(self) -> tuple[SafetyModel, Encoder] | None:
        if not self.use_model:
            return None
        if self._model is None:
            if not SAFETY_WEIGHTS.exists():
                return None
            self._model = SafetyModel.load(SAFETY_WEIGHTS)
        if self._encoder is None:
            from rag.embeddings import shared_encoder

            self._encoder = shared_encoder()
        return self._model, self._encoder

    def check(self, text: str) -> SafetyCheck:
        """Is this line a possible crisis, and of which kind?"""
        ruled = self.check_rules(text)
        if ruled.crisis:
            return ruled
        learned = self._learned()
        if learned is None:
            return ruled
        model, encoder = learned
        probs = model.scores(safety_features(encoder, [text]))[0]
        if probs[0] >= model.threshold:
            return SafetyCheck(True, list(Category)[int(np.argmax(probs[1:]))], "model")
        return ruled

    def check_rules(self, text: str) -> SafetyCheck:
        """The cue rules alone."""
        flat = normalise(text)
        safe_context = bool(RECOVERED.search(flat)) or (bool(SAFE_CONTEXT.search(flat)) and not CURRENT.search(flat))
        for category in (
            Category.suicidal_ideation,
            Category.self_harm,
            Category.being_harmed,
            Category.harming_others,
        ):
            for match in PATTERNS[category].finditer(flat):
                window = flat[max(0, match.start() - 40) : match.end() + 40]
                if HYPERBOLE.search(window) and not _serious(flat):
                    continue
                if safe_context:
                    continue
                return SafetyCheck(True, category, category.value)
        return SafetyCheck(False)


_SERIOUS = _rx(
    r"\b(?:knife|gun|pills|rope|bridge|weapon|seriously|not joking|i mean it|mean that|literally|actually going to|for real|plan)\b",
)


def _serious(flat: str) -> bool:
    return bool(_SERIOUS.search(flat))


@dataclass(frozen=True)
class Resource:
    """One place to get help."""

    name: str
    contact: str
    note: str = ""


RESOURCES_PATH = Path(__file__).resolve().parent / "data" / "crisis_resources.yaml"


def crisis_resources(region: str = "international", path: Path = RESOURCES_PATH) -> list[Resource]:
    """The crisis lines for a region (configurable file), always ending with the international default."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    regions = data["regions"]
    chosen = regions.get(region.lower(), []) if region.lower() != "international" else []
    return [Resource(**r) for r in [*chosen, *regions["international"]]]


PAUSE_MESSAGE = (
    "Let's pause the role-play for a moment. What you wrote sounds like it could be about real danger, "
    "to you or to someone else. If it is, you deserve real help now, from a person. This app is a "
    "rehearsal tool and cannot give that help."
)


SAFETY_WEIGHTS = Path(__file__).resolve().parent / "data" / "safety.npz"


def safety_features(encoder: Encoder, texts: list[str]) -> np.ndarray:
    """MiniLM mean and max embeddings, hashed word n-grams, and the rule verdict per category."""
    from rehearsal.tagger import ngram_features

    flat = [normalise(t) for t in texts]
    vectors = encoder.encode(flat, with_max=True)
    grams = np.array([ngram_features(f) for f in flat], dtype=np.float32)
    rules = np.array([[1.0 if PATTERNS[c].search(f) else 0.0 for c in Category] for f in flat], dtype=np.float32)
    return np.hstack([vectors * 4, grams * 2, rules]).astype(np.float32)


@dataclass
class SafetyModel:
    """Weights for 'crisis' plus one head per category (bias last), and the crisis threshold."""

    weights: np.ndarray
    threshold: float

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Probabilities, shape (n, 1 + categories)."""
        logits = features @ self.weights[:, :-1].T + self.weights[:, -1]
        return np.asarray(1 / (1 + np.exp(-np.clip(logits, -30, 30))))

    def save(self, path: Path) -> None:
        """Write to .npz."""
        np.savez_compressed(path, weights=self.weights, threshold=np.float32(self.threshold))

    @classmethod
    def load(cls, path: Path) -> SafetyModel:
        """Read what `save` wrote."""
        data = np.load(path)
        return cls(data["weights"], float(data["threshold"]))


def train_safety_model(
    encoder: Encoder,
    rows: list[dict[str, Any]],
    everyday: Sequence[str] = (),
    max_false_alarm: float = 0.10,
    l2: float = 0.3,
) -> SafetyModel:
    """Fit on labelled lines plus `everyday` rehearsal lines (all safe). The threshold is the lowest
    whose out-of-fold false-alarm rate on the labelled safe lines (with the rules) stays within
    `max_false_alarm`: as much recall as that budget of pauses allows."""
    from rehearsal.tagger import fit_logistic

    labelled = len(rows)
    rows = [*rows, *({"text": t, "crisis": False, "category": None} for t in everyday)]
    x = safety_features(encoder, [r["text"] for r in rows]).astype(np.float64)
    y = np.array(
        [[float(r["crisis"]), *(float(r["category"] == c.value) for c in Category)] for r in rows], dtype=np.float64
    )
    folds = 5
    fold_of = np.arange(len(rows)) % folds
    oof = np.zeros(len(rows))
    for fold in range(folds):
        fit, held = fold_of != fold, fold_of == fold
        w = fit_logistic(x[fit], y[fit, :1], l2)
        oof[held] = 1 / (1 + np.exp(-np.clip(x[held] @ w[:, :-1].T + w[:, -1], -30, 30)))[:, 0]
    ruled = np.array([CrisisDetector(use_model=False).check_rules(r["text"]).crisis for r in rows])
    safe = (y[:, 0] == 0) & (np.arange(len(rows)) < labelled)
    threshold = 0.99
    for candidate in np.linspace(0.99, 0.01, 99):
        false_alarms = ((oof >= candidate) | ruled)[safe].mean()
        if false_alarms > max_false_alarm:
            break
        threshold = float(candidate)
    weights = fit_logistic(x, y, l2)
    return SafetyModel(weights.astype(np.float32), threshold)
