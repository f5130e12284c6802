"""Crisis detection on every user line, before the counterpart model sees it.

Four categories: suicidal ideation (explicit, implicit, plans or means), self-harm, being harmed
(violence, threats, coercive control), and harming others. Fast, offline and deterministic: cue
patterns written for each category, with the hyperbole of heated role-play ("I could kill you for
forgetting our anniversary", "this commute is killing me") and talk of a past, resolved or someone
else's experience kept apart. Recall comes first: a doubt is a pause, since the user can confirm
the line was part of the role-play and carry on.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from rehearsal.errors import RehearsalError
from rehearsal.exemplars import hash_fraction

if TYPE_CHECKING:
    from rehearsal.tagger import Encoder

log = logging.getLogger(__name__)  # file names and reasons only, never a user's line


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

PETROL = r"petrol(?![\s-]+(?:station|pump|price|garage))"  # a weapon; not at the station, the pump or the price

PATTERNS: dict[Category, re.Pattern[str]] = {
    Category.suicidal_ideation: _rx(
        r"\b(?:kill|killing|end|ending|hang|hanging|shoot|shooting|off|drown|drowning) (?:myself|my own life)\b",
        r"\b(?:kms|kys myself|unalive (?:myself|me))\b",
        r"\btak(?:e|ing) my (?:own )?life\b",
        r"\bend(?:ing)? (?:it all|it|things|everything)(?: all)?\b(?! (?:with|between) )",
        r"\b(?:i'?m|i am|been|feel(?:ing)?|get|getting) (?:so |really |pretty |very )?suicidal\b",
        r"\b(?:my )?suicid(?:e|al) (?:note|letter|plan|thoughts?|attempt)s?\b",
        r"\b(?:attempt(?:ed|ing)?|try(?:ing)?|tried|thinking about|think about|planning|plan) (?:to )?(?:suicide|kill myself|end it)\b",
        r"\b(?:want|wanna|wanted|wish|ready|planning) (?:to |i (?:was|were|could) )?(?:die|be dead|disappear (?:forever|for good|permanently)|not exist|stop existing)\b",
        r"\bwish(?:ing)? i (?:was|were|had) (?:never been born|dead|not here|gone)\b",
        r"\b(?:i )?(?:don'?t|do not|no longer|dont) want to (?:be alive|live|exist|be here anymore|wake up(?! early))\b(?! (?:in|with|like|on|at|early|without) )",
        r"\b(?:better off|happier|easier) (?:dead|without me|if i (?:was|were|wasn'?t|weren'?t) (?:here|around|gone|dead|alive))\b",
        r"\b(?:no|not any|isn'?t any|there'?s no) (?:point|reason) (?:in |to )?(?:living|being alive|going on|carrying on|waking up|being here|staying alive|life|anymore|any more)\b",
        r"\b(?:won'?t|will not|not going to|ain'?t gonna|shan'?t) be alive\b",
        r"\b(?:won'?t|will not|not) (?:need|be needing) (?:it|them|this|that|any of (?:it|this)|my \w+) (?:after|anymore|any more|much longer|where i'?m going)\b",
        r"\b(?:sleep|go to sleep|fall asleep|close my eyes) and (?:never|not) wake up\b",
        r"\b(?:never|not) wake up again\b",
        r"\b(?:sav(?:ed|ing)|stockpil\w+|hoard\w*|collect(?:ed|ing)|kept|keeping|count(?:ed|ing)) (?:up )?(?:all )?(?:my |the |enough |some )?(?:pills|tablets|meds|medication|paracetamol|painkillers|sleeping pills)\b",
        r"\b(?:take|took|swallow(?:ed)?|down(?:ed)?) (?:all|the whole (?:bottle|packet|box)|a (?:bottle|packet|box)|every one) (?:of )?(?:my |the |them|those )?(?:pills|tablets|meds)?",
        r"\b(?:i|i'?ve|i'?ll|i'?d|gonna|going to|want to|thinking about|think about|could|might|planning to) (?:\w+ ){0,3}overdos(?:e|ed|ing)\b(?! on (?:coffee|sugar|chocolate|caffeine|netflix|tv))",
        r"\b(?:bought|got|have|found|tied|buy|buying) (?:a |the |some )?(?:rope|noose|gun|shotgun)\b(?! (?:for|to) (?:the|my) (?:boat|climbing|tent|hunting|swing))",
        r"\b(?:goodbye|farewell|last) (?:letters?|notes?|messages?|texts?)\b",
        r"\bgiv(?:e|ing|en) (?:away )?(?:all )?(?:my|all my) (?:things|stuff|belongings|possessions|clothes) away\b",
        r"\bgiv(?:ing|en|e) away (?:all )?(?:my|all my) (?:things|stuff|belongings|possessions)\b",
        r"\b(?:burden|weight) (?:on|to) (?:everyone|you all|my family|them|you)\b",
        r"\b(?:the )?world (?:would be|is) better (?:off )?without me\b",
        r"\bno one (?:would|will) (?:miss|notice|care) (?:me|if i)\b(?! (?:skip\w*|missed|didn'?t (?:go|come|turn up))\b)",
        r"\bwhat'?s the point (?:of|in) (?:living|me|being alive|anything|waking up|going on|carrying on)\b",
        r"\bi'?m (?:done|finished) with (?:life|living|everything|it all)\b",
        r"\bdisappear (?:forever|for good|permanently)\b",
        r"\bstep(?:ped)? (?:off|in front of)\b",
        r"\b(?:the|which|that) (?:bridge|cliff|train line|railway|tracks|motorway bridge)\b.*\b(?:know|picked|chosen|found|went to)\b",
        r"\b(?:know|picked|chosen|found) (?:which|the|a) (?:bridge|cliff|spot|place|train)\b",
        r"\bresign from life\b",
        r"\b(?:garage|car) with the engine running\b",
        r"\bwelcome (?:a heart attack|death|an accident|a crash)\b|\bhope (?:the plane|the train|my car|i) (?:goes down|crashes|gets? hit|doesn'?t wake|don'?t wake)\b",
        r"\b(?:hate|sick of|tired of) (?:that i'?m |being )?(?:still )?(?:here|alive|existing)\b|\bwaking up and being disappointed\b",
        r"\b(?:research\w*|looked up|look(?:ing)? up|googl\w+|reading (?:about|forums))\b.{0,40}\b(?:suicide|methods?|how (?:high|tall|many|much|long)|tallest|lethal|how (?:they'?d|to) do it)\b",
        r"\btried (?:last \w+|before|once) and it didn'?t work\b|\bnext time it will\b",
        r"\bput up with me (?:much|any) longer\b",
        r"\b(?:rather|sooner) be dead\b.{0,40}\b(?:literally|mean (?:it|that)|seriously|not joking)\b",
        r"\btak(?:e|ing) (?:all|everything) (?:in|from) the (?:medicine |bathroom )?cabinet\b",
        r"\blike it was the last time\b|\bthe last thing (?:she|he|they) (?:will )?remembers? (?:from|of|about) me\b",
        r"\b(?:already decided|made my decision)\b.{0,60}\b(?:peace|next month|this weekend|tonight|soon)\b|\bi'?m at peace with (?:it|my decision)\b|\bmade (?:my )?peace with (?:it|dying|going)\b",
        r"\bmade (?:up )?my mind\b.{0,30}\b(?:this weekend|tonight|tomorrow|soon|friday|saturday|sunday|date)\b",
        r"\b(?:a|my) plan and a date\b|\bpicked a date\b|\bhaving a plan is\b|\bi have a plan\b",
        r"\b(?:taken|took|swallowed) (?:a lot|loads|a load|a bunch|handfuls?) of (?:something|pills|tablets|them)\b",
        r"\bpicked (?:my|the|a) spot\b|\bright moment to go\b",
        r"\b(?:future i'?m not having|no future for me|not having a future)\b",
        r"\bvoices\b.{0,50}\b(?:tonight|kill|die|do it|end it|the night)\b",
        r"\bgave away (?:my|all my)\b",
        r"\bend(?:ing)? my life\b|\bthe thing i'?m ending\b",
        r"\bwon'?t get (?:another|the) chance (?:to|\.|$)",
        r"\b(?:still )?alive by (?:christmas|summer|spring|next|the end|then)\b|\bdon'?t see myself (?:still )?(?:here|alive|around)\b",
        r"\bhow many (?:paracetamol|pills|tablets|sleeping pills)\b",
        r"\brope'?s? (?:is )?in (?:the|my)\b",
        r"\bpray i (?:won'?t|don'?t|never) wake\b",
        r"\bsuicide (?:is|has been) (?:all|on my mind|what)\b|\bthought about suicide\b",
        r"\blife insurance\b.{0,60}\b(?:them|kids|help|more than|for)\b",
        r"\bworld (?:is|would be) (?:kinder|better|lighter) without me\b|\bwithout me in it\b",
        r"\bremember (?:that|this) after\b",
        r"\b(?:out|exit|escape|retire|leave|leaving|check(?:ing)? out|resign(?:ing)?) (?:of |from )?life\b|\bwant out of life\b",
        r"\bwant to (?:go|be) where (?:he|she|they) (?:is|are)\b|\b(?:want|going) to join (?:her|him|them)\b(?! (?:for|at|in|on|and)\b)",
        r"\bshould (?:have|'?ve) (?:been me|died)\b.{0,60}\b(?:fix|join|going to|soon|want to)\b",
        r"\bhope my heart (?:just )?stops\b|\b(?:hope|hoping|wish|pray)\b.{0,20}\b(?:don'?t|won'?t|never|not) wake up\b",
        r"\bworth more (?:to \w+ )?dead\b|\bwish i'?d never been born\b",
        r"\b(?:death|dying) (?:sounds|seems|feels|would be|is) like (?:a |the )?(?:relief|peace|rest|release|answer|only)\b",
        r"\bhow high\b.{0,40}\b(?:to be sure|enough|to die)\b|\b(?:does|would) it hurt to (?:overdose|drown|die|hang|jump)\b",
        r"\bwhat dose\b.{0,30}\benough\b|\bhow many\b.{0,40}\bit would take\b",
        r"\b(?:hairdryer|toaster|radio)\b.{0,40}\bbath\b|\bbath\b.{0,40}\b(?:hairdryer|toaster)\b",
        r"\b(?:make|making) it look like an accident\b",
        r"\b(?:burden|problem)\b.{0,60}\b(?:take (?:that|it) away|solve it for|remov\w+ myself)\b|\bno me,? no problem\b",
        r"\b(?:rest|sleep) for good\b|\bsleep forever\b|\bstay asleep\b.{0,20}\bforever\b",
        r"\bnow (?:that )?i'?ve decided\b.{0,40}\b(?:calm|lighter|peace|relie\w+)\b|\b(?:calm|lighter|peace|relie\w+)\b.{0,40}\bnow (?:that )?i'?ve decided\b",
        r"\b(?:in the ground|six feet under)\b.{0,30}\b(?:sooner|soon|by then)\b",
        r"\blast (?:day|night|week|month) on (?:earth|this planet)\b",
        r"\b(?:standing|sitting|i'?m|i am) (?:on|at) (?:the|a) (?:roof|ledge|bridge|railing|edge|top of the car park|platform edge)\b"
        r"(?=.{0,40}\b(?:now|tonight|looking down|to jump|just wanted)\b|\W*$)",
        r"\b(?:writing|typing) this from the (?:roof|bridge|top of|edge)\b",
        r"\b(?:drank|drunk|swallowed|took|taken) (?:some |the |a bottle of |a cup of )?(?:bleach|antifreeze|weedkiller|rat poison)\b",
        r"\b(?:don'?t|do not) plan on (?:seeing|being|making it|living)\b|\bor any (?:year|christmas|birthday) after\b",
        r"\bit'?s not a cry for help\b|\bfor me,? not (?:a|the) (?:patient|story|book)\b|\bis a fall from\b.{0,30}\benough\b",
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
        r"\bcarv(?:e|ed|ing) (?:\w+ ){0,2}into my\b",
        r"\b(?:pinch|twist|scratch|pick)\w* (?:at )?my skin\b",
        r"\b\d+ ?cals? a day\b",
        r"\bcan'?t wear short sleeves\b|\blong sleeves\b.{0,40}\b(?:obvious|always|hide|you know why)\b",
        r"\b(?:need|deserve) to be punished\b",
        r"\bscrub(?:bed|bing)? my skin raw\b|\bbleach\b.{0,30}\bmy skin\b",
        r"\b(?:used|took) (?:a |my |the )?(?:compass|razor|blade|knife|lighter|scissors) (?:on|to) my\b",
        r"\bholding (?:a|the) (?:razor|blade|knife)\b",
        r"\bblood on the (?:towels|sheets)\b",
        r"\b(?:take|taking|took) it out on my (?:own )?(?:arms?|legs?|skin|body|wrists?)\b",
        r"\b(?:go|went) (?:to the \w+ )?(?:and|to) cut\b",
        r"\b(?:scars|marks|cuts|thighs|arms|wrists)\b.{0,60}\b(?:i didn'?t|it wasn'?t|they weren'?t)\b",
    ),
    Category.being_harmed: _rx(
        rf"\b{PARTNER} (?:(?:has|had|have|keeps?|kept|always|still|just|sometimes|often|)\s?)?{VIOLENCE} (?:me|us|my (?:mum|mom|son|daughter|kids|children|baby|brother|sister|little \w+))\b",
        rf"\b{PARTNER} (?:said|says|told me|threaten(?:s|ed)?|swore|promised|warned)\b.{{0,60}}\b(?:kill|hurt|hit|beat|take the kids|burn|finish|end) (?:me|us|you|my|the kids|himself|herself)\b",
        r"\bthreaten(?:s|ed|ing)? (?:to )?(?:kill|hurt|hit|beat|take the kids|burn)\b",
        r"\b(?:scared|afraid|terrified|frightened|too scared) (?:to go|of going|to be|of being) (?:home|back|alone with (?:him|her|them))\b",
        r"\b(?:scared|afraid|terrified|frightened) (?:of )?(?:what )?(?:he|she|they)(?:'ll| will| might| would)? (?:do|hurt|kill|hit|find)\b",
        r"\b(?:scared|afraid|terrified|frightened) (?:of )?(?:my (?:husband|wife|partner|boyfriend|girlfriend|dad|father|mum|mom|mother|stepdad|ex))\b(?!-in-law|'s opinion| (?:will|'ll|would|might) (?:be (?:disappointed|upset|cross|sad)|say|think))",
        r"\b(?:won'?t|doesn'?t|don'?t|didn'?t|wouldn'?t) let me (?:leave(?! early)|go out|see|talk to|have (?:my own|a|any)|use|work|call|text|out|sleep|eat)\b",
        r"\b(?:not|never) allowed to (?:see|go|leave|talk|have|call|text|work|spend|wear|eat)\b(?!.{0,30}\b(?:at work|at school|in class|in the office|on shift)\b)",
        r"\b(?:takes|keeps|kept|controls|has|took all|takes all|won'?t give me) (?:all )?(?:of )?my (?:bank ?card|cards|money|wages|salary|phone|passport|keys|car keys|benefits|pin)\b",
        r"\b(?:checks?|checking|goes through|tracks?|tracking|reads?) my (?:phone|messages|texts|location|emails|bank)\b.*\b(?:every|all the time|won'?t|not allowed|scared|makes me|or else|if i)\b",
        r"\b(?:locked|locks|locking|lock) me (?:in|out)\b",
        r"\b(?:following|followed|follows|stalking|stalked|stalks|watching) me\b(?! on (?:instagram|twitter|x|tiktok|insta))(?! \w+ing\b| cook| play| work)",
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
        r"(?<!not )\b(?:scared|afraid|terrified|frightened) of (?:him|her)\b",
        r"\bmade me (?:kneel|stand|sleep) (?:on|in|outside)\b|\bpinn(?:ed|s|ing) me (?:against|down|to)\b",
        r"\bcarer\b.{0,60}\b(?:slap\w*|hits?|hitting|rough|shouts|pinch\w*)\b",
        r"\b(?:kicked|punched|hit|beat|shoved|pushed) me so hard\b",
        r"\b(?:told|tells) me not to tell\b|\bcan'?t tell my (?:parents|mum|mom|dad) about (?:us|him|her|it)\b|\bour (?:little )?secret\b",
        r"\b(?:jump|jumping) me\b|\blocked out\b.{0,30}\b(?:cold|night|again)\b|\bnot allowed out\b",
        r"\bbeing starved\b|\bleave me hungry\b|\b(?:groped|molested) me\b",
    ),
    Category.harming_others: _rx(
        r"\b(?:going to|gonna|will|want to|wanna|plan(?:ning)? to|about to|could easily|i'?ll) (?:really |actually |seriously )?(?:hurt|kill|stab|shoot|strangle|poison|smother|run over|beat up|attack|burn)\b"
        r" (?:him|her|them|someone|somebody|people|the baby|my (?:\w+ ){0,2}(?:baby|son|daughter|kids|wife|husband|partner|boss|mum|mom|dad|ex|neighbou?r|brother|sister))\b"
        r"(?! (?:for|if|when) (?:\w+ing|not|he|she|they|you)\b)",
        rf"\b(?:knife|gun|weapon|bat|hammer|blade|poison|{PETROL}|acid)\b.{{0,60}}\b(?:him|her|them|his|their|pay|ready|car|waiting|tonight|bag)\b",
        rf"\b(?:him|her|them|he|she|they)\b.{{0,60}}\b(?:knife|gun|weapon|hammer|poison|{PETROL}|acid)\b",
        r"\bmake (?:him|her|them) pay\b(?! for (?:the|a|his|her|their|my|it)\b)",
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
        r"\b(?:bringing|bring) something\b.{0,40}\b(?:regret|sorry|pay)\b|\bmade a list of (?:the )?(?:people|who)\b",
        r"\b(?:drive|driving|drove) (?:into|through) (?:the |a )?(?:crowd|people|them)\b",
        r"\bmake (?:him|her|them|you) (?:bleed|suffer)\b",
        r"\bleave (?:him|her|them) without (?:his|her|their) (?:meds|medication|food|water)\b",
    ),
}

# Phrasings that are about danger as often as about ordinary plans ("when I'm gone", "can't go on",
# "won't be around"): they pause unless the line is plainly about a trip, a move, a job or a joke.
AMBIGUOUS = _rx(
    r"\b(?:can'?t|cannot|can not) (?:go on|keep going|do (?:this|life) anymore|take (?:it|this) anymore|carry on)\b",
    r"\bnot (?:planning on|planning to|going to be) (?:be(?:ing)? )?(?:here|around|alive)\b",
    r"\b(?:jump|jumping|throw myself) (?:off|from|in front of|under)\b",
    r"\bwr(?:ote|itten|iting) (?:letters?|notes?) (?:to|for) (?:everyone|my (?:kids|family|children|parents|mum|mom|dad))\b",
    r"\b(?:say(?:ing)?|said) (?:my )?(?:last |final )?goodbyes? to (?:everyone|you all|my (?:kids|family|children|friends))\b",
    r"\beveryone(?:'d| would) be (?:better|fine|happier|relieved)\b",
    r"\b(?:this|tonight|today|friday|tomorrow|sunday|monday) (?:is|will be) (?:my|the) last (?:day|night|time)\b",
    r"\bnot (?:be )?(?:here|around) (?:much longer|by|next|for (?:long|much))\b",
    r"\b(?:sorted|settled|done) before i go\b|\b(?:before|after|once|when) i'?m (?:gone|dead)\b|\bafter i die\b",
    r"\b(?:clock(?:ing)? out|switch(?:ing)? off|check(?:ing)? out|log(?:ging)? off|go(?:ing)?|leav(?:e|ing)) (?:permanently|for good|forever)\b",
    r"\bready to (?:go|stop|die) now\b|\bready to stop (?:paying|living|existing)\b",
    r"\bwon'?t be (?:there|here) for (?:it|the|her|his)\b",
    r"\b(?:be|i'?ll be) gone before\b|\bproperly gone\b|\bgone for good\b",
    r"\btired of (?:existing|living|being alive|life)\b(?! in )",
    r"\bdebt\b.{0,40}\bonce i'?m dead\b|\bonce i'?m dead\b",
    r"\b(?:going|gonna) (?:to )?(?:die|be dead)\b",
    r"\b(?:don'?t|do not) want to (?:go on|keep going|wake up(?! early)|be here)\b",
    r"\b(?:won'?t|will not|not going to|ain'?t gonna|shan'?t) be (?:here|around|there)\b",
    r"\bsaid my goodbyes\b|\bthis is me saying goodbye\b",
    r"\b(?:chosen|picked|set|decided on) (?:a |the )?(?:day|date|night|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    r"\bi'?ll be gone (?:by|before|soon)\b|\bbe gone soon\b",
    r"\b(?:after|once) (?:this|the|my) (?:weekend|week|party|exams?|results|holidays|summer|divorce|funeral)\b.{0,30}\b(?:i'?m done|finishing it|ending it|it'?s over|i'?m gone)\b",
    r"\b(?:the )?last (?:thing i'?ll (?:write|say)|session|time i'?ll)\b|\bbecause it'?s the last time\b",
    r"\b(?:thanks?|thank (?:you|her|him|them)) for everything\b.{0,60}\b(?:sorry|before i'?m gone|while i (?:still )?can|goodbye|last)\b",
    r"\bwhile i (?:still )?can\b",
    r"\bnot (?:planning on|going to be) (?:being )?(?:here|around)\b",
)
# Plain talk of trips, moves, jobs, events and jokes: what makes an ambiguous phrase ordinary.
ORDINARY = _rx(
    r"\b(?:holiday|trip|travel\w*|moving (?:to|out|in|house|abroad|back)|move (?:to|out|in|abroad|back)|moved (?:to|out|in|house))\b",
    r"\b(?:new (?:flat|house|place|job)|found a (?:flat|place|house|room)|my own place|lease|hand(?:ing|ed)? in my notice)\b",
    r"\b(?:leaving (?:do|drinks|party)|retir\w+|transfer\w*|abroad|overseas|flights?|airport|cab|taxi|conference|annual leave)\b",
    r"\b(?:to|in) (?:australia|canada|spain|portugal|germany|france|berlin|dubai|leeds|london|the city|new zealand|america|india)\b",
    r"\bbungee\b|\bdiving board\b|\blike this with\b|\bnoise\b|\bnight shifts\b|\bschool ever\b|\bwhen (?:they|he|she) turns?\b",
    r"\b(?:a|one|two|three|six|\d+) (?:year|month|week)s? (?:in|abroad|away|off)\b|\b(?:surgery|operation)\b",
    r"\b(?:football|neighbours|council)\b|\bhanded in my keys\b",
    r"\blast (?:night|day|week) (?:in|at) (?:this|the|my) (?:flat|house|job|town|city|place|school|office)\b",
)

# Broad cue words, often harmless on their own: features for the learned layer, never a pause.
SOFT: dict[Category, re.Pattern[str]] = {
    Category.suicidal_ideation: _rx(
        r"\b(?:goodbye|farewell|funeral|grave|will|insurance|last time|for good|permanently|forever|the end|over soon|one last)\b",
        r"\b(?:burden|problem|bother|drain|disappointment|trouble|mess)\b.{0,40}\b(?:longer|anymore|any more|soon|again|gone|without)\b",
        r"\b(?:without me|miss me|notice|relieved|free of me|better off|easier|happier)\b",
        r"\b(?:pills|tablets|meds|rope|bridge|train|platform|roof|ledge|edge|cliff|motorway|river|sea|tracks|balcony)\b",
        r"\b(?:decided|made up my mind|my mind'?s made up|ready|calm|peace|chosen|picked)\b",
        r"\b(?:disappear|vanish|not exist|not be here|stop existing|sleep forever|not wake up|be gone)\b",
        r"\b(?:die|dying|dead|death|suicide|kill myself|end it)\b",
    ),
    Category.self_harm: _rx(
        r"\b(?:cut|cuts|cutting|blade|blades|razor|scars?|burns?|bruises?|bleed|bleeding|blood|marks)\b",
        r"\b(?:punish|deserve|relaps\w*|urge|clean for|on purpose|deliberately)\b",
        r"\b(?:sleeves|hoodie|hide|hiding|cover)\b",
    ),
    Category.being_harmed: _rx(
        r"\b(?:won'?t|doesn'?t|don'?t|didn'?t|wouldn'?t) let me\b|\b(?:not|never) allowed\b|\bmakes? me\b",
        r"\b(?:scared|afraid|terrified|frightened|safe)\b",
        r"\b(?:he|she|they|him|her|them)\b.{0,30}\b(?:hit|hits|slap\w*|punch\w*|kick\w*|chok\w*|push\w*|shov\w*|grab\w*|threw|throws|hurt\w*|locks?|locked)\b",
        r"\b(?:secret|tell anyone|believe me|my phone|my money|passport|watching me|follows? me|outside my)\b",
    ),
    Category.harming_others: _rx(
        r"\b(?:i'?m going to|i'?ll|i will|gonna|want to|wanna|i'?d)\b.{0,20}\b(?:kill|hurt|stab|shoot|strangle|smash|break|burn|poison|beat|make \w+ pay|get)\b",
        rf"\b(?:knife|gun|bat|hammer|blade|{PETROL}|acid|poison|crowbar|weapon)\b",
        r"\b(?:revenge|pay for|regret|sorry|suffer|bleed|teach \w+ a lesson)\b",
        r"\b(?:the baby|my baby|my son|my daughter|the kids|my kids|toddler|my mum|my dad|my wife|my husband)\b",
    ),
}
# Signs that a line is play, not danger: laughter and jokes. Features for the learned layer only.
PLAYFUL = _rx(r"\b(?:lol|lmao|haha\w*|jk|joking|kidding|obviously|omg|ha)\b|😂|🤣|😅")

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
    r"\b(?:embarrass\w*|mortif\w*|cringe|ashamed)\b.{0,30}\b(?:could|would|wanted to|want to) (?:just )?die\b",
    r"\b(?:could|would|wanted to|want to) (?:just )?die\b.{0,30}\b(?:embarrass\w*|mortif\w*|cringe|shame)\b",
    r"\bdie (?:of|from) (?:boredom|embarrassment|shame|laughter|laughing|happiness|cringe|envy|jealousy)\b",
    r"\b(?:skin|eat|roast) (?:me|him|her|you|us) alive\b|\b(?:be|is|are) the death of me\b|\bhave my (?:head|guts|hide)\b",
    r"\b(?:have|give (?:me|him|her|them)) a heart attack\b|\bblow a gasket\b|\bhit the roof\b|\bgo(?:ing)? (?:through the roof|spare|ballistic)\b",
    r"\b(?:dead|die) in the water\b|\bdead meat\b|\bdead to me\b|\bwe'?re all going to die\b",
    r"\bi could (?:cheerfully |happily |honestly |literally |just )?(?:kill|murder|strangle|throttle) (?:my \w+|him|her|them|you)\b",
    r"\b(?:i'?ll|i will|gonna|going to) (?:actually |literally )?end you\b|\bwring (?:your|his|her) neck\b",
    r"\b(?:kill|murder|strangle) each other\b|\bthrew (?:a |the )?(?:cushion|pillow|sock|teddy|snowball)\b|\bpillow fight\b",
    r"\blost the will to live\b.{0,40}\b(?:lecture|meeting|queue|call|film|class|episode)\b",
    r"\b(?:lecture|meeting|queue|call|film|class|episode)\b.{0,40}\blost the will to live\b",
)
# Talk about the past that is over, someone else, work, fiction or games.
SAFE_CONTEXT = _rx(
    r"\b(?:stopped|quit|gave up) (?:self-harming|self harming|cutting|hurting myself)\b",
    r"\bin a good place\b",
    r"\b(?:used to|as a (?:teen|teenager|kid|child|student)|when i was (?:young|younger|a teen|\d+|\w+teen|at (?:school|uni))|years ago|in my twenties|back in (?:school|uni|the day|\d{4}))\b",
    r"\b(?:in recovery|recovered|better place now|doing (?:much |so )?better now|haven'?t (?:done|hurt|cut) (?:that|myself|it) (?:in|for)|clean for|(?:\d+|two|three|four|five|six|seven|eight|nine|ten) (?:years|months) (?:clean|free|since))\b",
    r"\b(?:i'?m an?|as an?|i work as an?) (?:social worker|teacher|teaching assistant|gp|doctor|midwife|coroner|police officer|youth worker|counsellor|psychiatrist|carer|vet)\b|\bsafeguarding\b",
    r"\b(?:ward|patients?|clients?|nurse|paramedic|calls are part of|on shift|volunteer(?:ing)?|helpline|training|course|module|lecture|essay|research|article|documentary|podcast|novel|film|movie|series|episode|book|character|game|level|boss fight|elden ring|fortnite|minecraft|news|headline)\b",
    r"\b(?:his|her|their|my (?:mum|mom|dad|father|mother|brother|sister|friend|uncle|aunt|grandad|grandfather|grandma|grandmother|cousin)(?:'s)?) (?:suicide|overdose|death|funeral|attempt)\b",
    r"\b(?:killed (?:him|her|them)self|took (?:his|her|their) (?:own )?life|died by suicide)\b",
    r"\bmy (?:mum|mom|dad|father|mother|brother|sister|friend|uncle|aunt|son|daughter|cousin|partner|husband|wife) (?:overdosed|attempted|self-harmed|cut (?:him|her)self)\b",
)
# Recovery stated outright wins over any sign of the present ("three years free of it today").
RECOVERED = _rx(
    r"\bhaven'?t (?:self[- ]?harmed|cut|hurt myself|burned myself) (?:in|for)\b",
    r"\b(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten) (?:days|weeks|months|years) (?:free of|clean from|clean of|since i last)\b",
)
# Injuries by accident, which only the self-harm cues would mistake.
ACCIDENT = _rx(
    r"\b(?:shaving|by accident|accidentally|chopping (?:onions|veg\w*|the \w+)|clumsy)\b",
    r"\bon (?:a|the) (?:cupboard|door|shelf|table|oven tray|tin|tin lid|steam wand|rose bush|thorn|nail|fence|car door|paper)\b",
)
DELIBERATE = _rx(r"\b(?:on purpose|deliberately|wasn'?t an accident|not an accident|meant to)\b")
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
    present) the learned layer (`LearnedLayer`): a logistic model over the packaged MiniLM
    sentence embedding and hashed word n-grams, averaged with a model over a fine-tuned copy of the
    encoder, both fit on the tuning set only, their threshold set for recall. It catches the
    indirect ways people say these things that no list of cues anticipates. An optional `second_opinion`
    (`rehearsal.safety_review`) is asked about lines both layers let through; it can add a pause,
    never remove one, and None from it means no usable answer.
    """

    def __init__(
        self,
        model: SafetyModel | None = None,
        encoder: Encoder | None = None,
        use_model: bool = True,
        second_opinion: Callable[[str], SafetyCheck | None] | None = None,
        layer: LearnedLayer | None = None,
    ):
        """With neither `model` nor `layer`, the shipped learned layer (see `LearnedLayer.shipped`);
        with `model` (and its `encoder`, default the packaged one), that logistic model alone."""
        self._model, self._encoder, self.use_model = model, encoder, use_model
        self._layer = layer
        self.second_opinion = second_opinion

    def learned_layer(self) -> LearnedLayer | None:
        """The learned layer this detector screens with (loading it if need be); None: rules alone."""
        if not self.use_model:
            return None
        if self._layer is None:
            if self._model is not None:
                self._layer = LearnedLayer([(self._model, self._encoder or _packaged_encoder())], self._model.threshold)
            else:
                self._layer = LearnedLayer.shipped()
        return self._layer

    def check(self, text: str) -> SafetyCheck:
        """Is this line a possible crisis, and of which kind?"""
        fast = self.check_fast(text)
        if fast.crisis or self.second_opinion is None:
            return fast
        review = self.second_opinion(text)
        return review if review is not None and review.crisis else fast

    def check_fast(self, text: str) -> SafetyCheck:
        """The offline layers alone: the cue rules, then the learned model."""
        ruled = self.check_rules(text)
        if ruled.crisis:
            return ruled
        learned = self.learned_layer()
        if learned is None:
            return ruled
        probs = learned.scores(text)
        if probs[0] >= learned.threshold:
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
                if category is Category.self_harm and ACCIDENT.search(flat) and not DELIBERATE.search(flat):
                    continue
                return SafetyCheck(True, category, category.value)
        light = bool(HYPERBOLE.search(flat)) and not _serious(flat)
        if AMBIGUOUS.search(flat) and not (safe_context or light or ORDINARY.search(flat)):
            return SafetyCheck(True, Category.suicidal_ideation, "ambiguous")
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
NEIGHBOURS = 3  # how many nearest labelled lines of each kind the neighbour features average over
# Candidate false-alarm budgets for everyday talk, loosest last. They stop below 5%, the limit the
# held-out everyday lines are checked against: out-of-fold rates on everyday talk have run one to
# two points below the held-out rate, so a budget at the limit itself crosses it.
EVERYDAY_BUDGETS = (0.03, 0.035, 0.04)
RECALL_SLACK = 0.01  # the out-of-fold recall a tighter budget may cost against the loosest


def _alternatives(pattern: re.Pattern[str]) -> list[re.Pattern[str]]:
    """The alternatives `_rx` joined, each compiled on its own."""
    parts = pattern.pattern.split("|(?:")
    return [re.compile(part if i == 0 else "(?:" + part, re.IGNORECASE) for i, part in enumerate(parts)]


_SOFT_CUES = [*_alternatives(AMBIGUOUS), *(cue for category in Category for cue in _alternatives(SOFT[category]))]
_CONTEXT_CUES = [HYPERBOLE, SAFE_CONTEXT, CURRENT, PLAYFUL, RECOVERED, ACCIDENT, ORDINARY]


def cue_features(flat: str) -> list[float]:
    """0/1 flags on a normalised line: the rule verdict per category, each soft cue, and the contexts
    that make a cue harmless (hyperbole, the past, laughter, accidents) or current."""
    return [
        *(1.0 if PATTERNS[c].search(flat) else 0.0 for c in Category),
        *(1.0 if cue.search(flat) else 0.0 for cue in _SOFT_CUES),
        *(1.0 if cue.search(flat) else 0.0 for cue in _CONTEXT_CUES),
    ]


def base_features(encoder: Encoder, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(features, mean embeddings): MiniLM mean and max embeddings, hashed word n-grams, cue flags."""
    from rehearsal.tagger import ngram_features

    flat = [normalise(t) for t in texts]
    vectors = encoder.encode(flat, with_max=True)
    grams = np.array([ngram_features(f) for f in flat], dtype=np.float32)
    cues = np.array([cue_features(f) for f in flat], dtype=np.float32)
    features = np.hstack([vectors * 4, grams * 2, cues]).astype(np.float32)
    return features, vectors[:, : vectors.shape[1] // 2]


def neighbour_features(similarity: np.ndarray, anchor_crisis: np.ndarray) -> np.ndarray:
    """How close each line is to the nearest labelled crisis lines and the nearest safe ones.

    `similarity` is (lines, anchors) cosine similarity. Nearness to particular examples catches
    phrasings a single linear boundary over the embedding cuts across ("I won't need the room"
    beside "I won't need my coat in Spain")."""
    columns = []
    for mask in (anchor_crisis, ~anchor_crisis):
        nearest = -np.sort(-similarity[:, mask], axis=1)[:, :NEIGHBOURS]
        columns += [nearest[:, 0], nearest.mean(axis=1)]
    near = np.stack(columns, axis=1)
    return np.hstack([near, near[:, [0]] - near[:, [2]], near[:, [1]] - near[:, [3]]]) * 8


def safety_features(encoder: Encoder, texts: list[str], model: SafetyModel) -> np.ndarray:
    """The learned layer's input for `texts`: base features plus nearness to the model's anchors."""
    features, means = base_features(encoder, texts)
    # einsum rather than a BLAS product: right after the encoder, BLAS threads waking up cost ~10 ms
    similarity = np.einsum("id,ad->ia", means, model.anchor_vectors())
    return np.hstack([features, neighbour_features(similarity, model.anchor_crisis)])


class _LinearHead:
    """Logistic outputs of one linear layer (`weights`, bias last): 'crisis', then one per category."""

    weights: np.ndarray

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Probabilities, shape (n, 1 + categories)."""
        return _sigmoid(features @ self.weights[:, :-1].T + self.weights[:, -1])


@dataclass
class SafetyModel(_LinearHead):
    """Weights for 'crisis' plus one head per category (bias last), the crisis threshold, and the
    labelled lines' mean embeddings (int8) with their crisis label, for the neighbour features."""

    weights: np.ndarray
    threshold: float
    anchors: np.ndarray
    anchor_crisis: np.ndarray
    cv_recall: float = 0.0  # out-of-fold on the tuning lines, with the rules, at this threshold
    cv_false_alarm: float = 0.0
    # out-of-fold on the everyday rehearsal lines it was fitted with; NaN for a fit that predates it
    cv_everyday_false_alarm: float = float("nan")
    everyday_budget: float = float("nan")  # the false-alarm budget chosen for everyday talk; NaN: none
    # (everyday budget, threshold, recall, false alarms, everyday false alarms) per candidate budget,
    # out-of-fold; printed by `rehearse safety --train`, not saved
    budget_table: list[tuple[float, float, float, float, float]] = field(default_factory=list, compare=False)
    # out-of-fold 'crisis' scores of the lines it was fit on, in their order (labelled, then
    # everyday), with the rules' verdicts on them; kept by `train_safety_model`, not saved
    oof: np.ndarray | None = field(default=None, compare=False, repr=False)
    ruled: np.ndarray | None = field(default=None, compare=False, repr=False)
    _vectors: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def anchor_vectors(self) -> np.ndarray:
        """The anchors as float unit vectors (converted once)."""
        if self._vectors is None:
            self._vectors = np.ascontiguousarray(self.anchors.astype(np.float32) / 127)
        return self._vectors

    def features(self, encoder: Encoder, texts: list[str]) -> np.ndarray:
        """This model's input for `texts`."""
        return safety_features(encoder, texts, self)

    def save(self, path: Path) -> None:
        """Write to .npz."""
        np.savez_compressed(
            path,
            weights=self.weights,
            threshold=np.float32(self.threshold),
            anchors=self.anchors,
            anchor_crisis=self.anchor_crisis,
            cv=np.array(
                [self.cv_recall, self.cv_false_alarm, self.cv_everyday_false_alarm, self.everyday_budget],
                dtype=np.float32,
            ),
        )

    @classmethod
    def load(cls, path: Path) -> SafetyModel:
        """Read what `save` wrote."""
        data = np.load(path)
        cv = data["cv"]
        return cls(
            data["weights"],
            float(data["threshold"]),
            data["anchors"],
            data["anchor_crisis"].astype(bool),
            float(cv[0]),
            float(cv[1]),
            float(cv[2]) if len(cv) > 2 else float("nan"),
            round(float(cv[3]), 4) if len(cv) > 3 else float("nan"),
        )


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return np.asarray(1 / (1 + np.exp(-np.clip(logits, -30, 30))))


TUNED_SAFETY_ENCODER = Path(__file__).resolve().parent / "data" / "safety-encoder.onnx"
TUNED_SAFETY_WEIGHTS = Path(__file__).resolve().parent / "data" / "safety-tuned.npz"
TUNED_SAFETY_SCALE = 4.0  # tools/finetune_safety.py trains the head on line vectors scaled by this
# A line is screened before the counterpart model is asked, so both cores are free.
TUNED_SAFETY_THREADS = 2


def cue_count() -> int:
    """How many flags `cue_features` gives; a tuned head fit on another count is stale."""
    return len(cue_features(""))


@dataclass
class TunedSafetyModel(_LinearHead):
    """The fine-tuned member of the learned layer (`tools/finetune_safety.py`): its own int8 copy
    of MiniLM, tuned on the tuning lines and everyday rehearsal talk (the dev share left out),
    under one linear head over [line vector, cue flags] giving 'crisis' plus one score per
    category (bias last). `encoder_digest` names the encoder file the head was fit over;
    `threshold` is the pair's: for the mean of this model's 'crisis' score and the logistic
    model's, set on the dev share (`pair_threshold`) beside the logistic fit named by `partner`
    (`logistic_digest`)."""

    weights: np.ndarray
    threshold: float
    encoder_path: Path = TUNED_SAFETY_ENCODER
    partner: str = ""
    encoder_digest: str = ""
    dev_recall: float = float("nan")  # the pair's, on the dev share, rules included, at `threshold`
    dev_false_alarm: float = float("nan")  # on the dev share's safe tuning lines (hard twins left out)
    dev_everyday_false_alarm: float = float("nan")

    def encoder(self) -> Encoder:
        """The tuned encoder (`encoder_path`), loaded once per process."""
        from rag.embeddings import shared_encoder

        return shared_encoder(self.encoder_path, TUNED_SAFETY_THREADS)

    def features(self, encoder: Encoder, texts: list[str]) -> np.ndarray:
        """[line vector * scale, cue flags] for each normalised line, each line encoded on its own:
        the int8 encoder quantises activations per call, so a batch would give other numbers."""
        flat = [normalise(t) for t in texts]
        vectors = np.vstack([encoder.encode([f]) for f in flat]) if flat else np.zeros((0, 384), np.float32)
        cues = np.array([cue_features(f) for f in flat], dtype=np.float32).reshape(len(flat), cue_count())
        return np.hstack([vectors * TUNED_SAFETY_SCALE, cues]).astype(np.float32)

    def save(self, path: Path) -> None:
        """Write the head, the pair's threshold and figures to .npz (the encoder is its own file)."""
        np.savez_compressed(
            path,
            weights=self.weights,
            threshold=np.float32(self.threshold),
            partner=np.array(self.partner),
            encoder=np.array(self.encoder_digest),
            dev=np.array([self.dev_recall, self.dev_false_alarm, self.dev_everyday_false_alarm], dtype=np.float32),
        )

    @classmethod
    def load(cls, path: Path, encoder_path: Path = TUNED_SAFETY_ENCODER) -> TunedSafetyModel:
        """Read what `save` wrote; `encoder_path` is where its encoder is."""
        data = np.load(path)
        return cls(
            data["weights"],
            float(data["threshold"]),
            encoder_path,
            str(data["partner"]),
            str(data["encoder"]),
            *map(float, data["dev"]),
        )


def read_current(
    path: Path | None = None, encoder_path: Path | None = None, partner: SafetyModel | None = None
) -> tuple[TunedSafetyModel | None, str]:
    """(the tuned model in `path`, "") when it can be read, else (None, why not): a file is
    missing or cannot be read, its head was fit over another encoder file or another set of cue
    flags, or (given `partner`) its threshold was set beside another fit of the logistic model."""
    from rehearsal.tagger import line_encoder_digest

    path, encoder_path = path or TUNED_SAFETY_WEIGHTS, encoder_path or TUNED_SAFETY_ENCODER
    if not path.exists():
        return None, f"{path} is missing"
    if not encoder_path.exists():
        return None, f"{encoder_path} is missing"
    try:
        model = TunedSafetyModel.load(path, encoder_path)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:  # truncated, or another format
        return None, f"{path} cannot be read ({type(exc).__name__}: {exc})"
    if model.encoder_digest != line_encoder_digest(encoder_path):
        return None, f"{path} was fit over another encoder than {encoder_path}"
    if model.weights.shape[1] != 384 + cue_count() + 1:
        return None, f"{path} was fit on {model.weights.shape[1] - 385} cue flags; the rules now give {cue_count()}"
    if partner is not None and model.partner != logistic_digest(partner):
        return None, f"{path} was paired beside another fit of the logistic model"
    return model, ""


def _packaged_encoder() -> Encoder:
    from rag.embeddings import shared_encoder

    return shared_encoder()


def logistic_digest(model: SafetyModel) -> str:
    """Names one fit of the logistic model: a tuned model's threshold was set beside that fit only."""
    return hashlib.sha256(model.weights.tobytes()).hexdigest()[:16]


class LearnedLayer:
    """The detector's second layer: the mean of its members' probabilities against one threshold.

    Shipped, it is the logistic model over the packaged encoder, and with it, when one is shipped
    and was paired with that very fit, the fine-tuned model over its own encoder. The pair's
    threshold was set on a dev share of the training lines (`pair_threshold`): the fine-tuned
    model was not trained on it (its epoch was picked there), and the logistic model's scores
    there are out-of-fold, though its shipped fit includes those lines. The two err on different
    lines, so their mean catches more at the same false-alarm budget than either alone."""

    def __init__(self, members: list[tuple[SafetyModel | TunedSafetyModel, Encoder]], threshold: float):
        self.members, self.threshold = members, threshold

    @classmethod
    def shipped(cls) -> LearnedLayer | None:
        """The shipped layer, loaded once per process; None when no model is shipped (the rules
        then screen alone)."""
        with _SHIPPED_LOCK:
            if "layer" not in _SHIPPED:
                _SHIPPED["layer"] = cls._load_shipped()
            return _SHIPPED["layer"]

    @classmethod
    def _load_shipped(cls) -> LearnedLayer | None:
        if not SAFETY_WEIGHTS.exists():
            return None
        logistic = SafetyModel.load(SAFETY_WEIGHTS)
        members: list[tuple[SafetyModel | TunedSafetyModel, Encoder]] = [(logistic, _packaged_encoder())]
        tuned, reason = read_current(partner=logistic)
        if tuned is None:
            if TUNED_SAFETY_WEIGHTS.exists():  # shipped but not readable: say so, and screen without it
                log.warning("crisis screen: the fine-tuned model is left out (%s)", reason)
            return cls(members, logistic.threshold)
        return cls([*members, (tuned, tuned.encoder())], tuned.threshold)

    def describe(self) -> str:
        """Which models it averages, and its threshold."""
        names = " + ".join("logistic" if isinstance(m, SafetyModel) else "fine-tuned" for m, _ in self.members)
        return f"learned layer: {names}, threshold {self.threshold:.2f}"

    def scores(self, text: str) -> np.ndarray:
        """Probabilities for one line: 'crisis', then one per category."""
        return np.asarray(np.mean([m.scores(m.features(encoder, [text]))[0] for m, encoder in self.members], axis=0))


_SHIPPED: dict[str, LearnedLayer | None] = {}
_SHIPPED_LOCK = threading.Lock()


def in_safety_dev(key: str, share: float = 0.15) -> bool:
    """Whether a tuning line (by id; an everyday exemplar by its id) is in the dev share the
    fine-tuned model is not trained on and the pair's threshold is set on."""
    return hash_fraction("safety-dev:" + key) < share


def dev_threshold(
    scores: np.ndarray, ruled: np.ndarray, crisis: np.ndarray, budget: np.ndarray, everyday: np.ndarray
) -> tuple[float, float, float, float]:
    """(threshold, recall, false alarms, everyday false alarms) for `scores` on lines they were not
    fit on, by the logistic model's own budgets: at most 5 % of the safe lines marked in `budget`
    paused, and the tightest everyday budget that costs little recall (`pick_everyday_budget`)."""
    _, threshold, recall, false_alarm, everyday_rate = chosen_budget(
        budget_table(scores, ruled, crisis, budget, everyday)
    )
    return threshold, recall, false_alarm, everyday_rate


def budget_table(
    scores: np.ndarray,
    ruled: np.ndarray,
    crisis: np.ndarray,
    budget: np.ndarray,
    everyday: np.ndarray,
    max_false_alarm: float = 0.05,
    everyday_budgets: Sequence[float] = EVERYDAY_BUDGETS,
) -> list[tuple[float, float, float, float, float]]:
    """(everyday budget, threshold, recall, false alarms, everyday false alarms) for each candidate
    everyday budget, loosest last: `pick_threshold` under `max_false_alarm` on the lines marked in
    `budget` and that budget on the `everyday` lines."""
    table = []
    for limit in everyday_budgets:
        threshold, recall, false_alarm = pick_threshold(
            scores, ruled, crisis, budget, max_false_alarm, (everyday, limit)
        )
        rate = float(((scores >= threshold) | ruled)[everyday].mean()) if everyday.any() else 0.0
        table.append((limit, threshold, recall, false_alarm, rate))
    return table


def chosen_budget(table: list[tuple[float, float, float, float, float]]) -> tuple[float, float, float, float, float]:
    """The row of `budget_table` that `pick_everyday_budget` chooses."""
    chosen = pick_everyday_budget(table)
    return next(row for row in table if row[0] == chosen)


def pair_threshold(
    logistic_oof: np.ndarray,
    tuned_scores: np.ndarray,
    ruled: np.ndarray,
    crisis: np.ndarray,
    budget: np.ndarray,
    everyday: np.ndarray,
) -> tuple[float, float, float, float]:
    """`dev_threshold` for the mean of the two members' scores on the dev share: the logistic
    model's out of fold, the tuned model's from a fit without those lines."""
    return dev_threshold((logistic_oof + tuned_scores) / 2, ruled, crisis, budget, everyday)


def _quantise(vectors: np.ndarray) -> np.ndarray:
    return np.asarray(np.clip(np.round(vectors * 127), -127, 127), dtype=np.int8)


def _with_neighbours(
    x: np.ndarray, means: np.ndarray, rows: np.ndarray, anchors: np.ndarray, crisis: np.ndarray
) -> np.ndarray:
    """Features of `rows` with neighbour features over the `anchors` (row indices); a line is never its own neighbour."""
    similarity = means[rows] @ means[anchors].T
    similarity[rows[:, None] == anchors[None, :]] = -1.0
    return np.hstack([x[rows], neighbour_features(similarity, crisis[anchors])])


def _training_matrix(
    encoder: Encoder, rows: list[dict[str, Any]], everyday: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the rows with the everyday lines appended as safe: (base features, mean vectors at the
    saved anchors' precision, targets: 'crisis' then one column per category, the rules' verdicts)."""
    rows = [*rows, *({"text": t, "crisis": False, "category": None} for t in everyday)]
    x, means = base_features(encoder, [r["text"] for r in rows])
    means = _quantise(means).astype(np.float32) / 127  # the precision the saved anchors will have
    y = np.array(
        [[float(r["crisis"]), *(float(r["category"] == c.value) for c in Category)] for r in rows], dtype=np.float64
    )
    ruled = np.array([CrisisDetector(use_model=False).check_rules(r["text"]).crisis for r in rows])
    return x, means, y, ruled


def _out_of_fold(
    x: np.ndarray, means: np.ndarray, y: np.ndarray, labelled: int, l2: float, folds: int = 5
) -> np.ndarray:
    """Each line's 'crisis' score from a fit on the other folds (anchors: their labelled lines)."""
    from rehearsal.tagger import fit_logistic

    crisis = y[:, 0] == 1
    index = np.arange(len(y))
    oof = np.zeros(len(y))
    for fold in range(folds):
        fit, held = index[index % folds != fold], index[index % folds == fold]
        anchors = fit[fit < labelled]
        w = fit_logistic(_with_neighbours(x, means, fit, anchors, crisis).astype(np.float64), y[fit, :1], l2)
        oof[held] = _sigmoid(_with_neighbours(x, means, held, anchors, crisis) @ w[:, :-1].T + w[:, -1])[:, 0]
    return oof


def logistic_out_of_fold(
    encoder: Encoder, rows: list[dict[str, Any]], everyday: Sequence[str] = (), l2: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(out-of-fold 'crisis' scores, the rules' verdicts) over the labelled rows, then the everyday
    lines, exactly as `train_safety_model` computes them, without the final fit."""
    x, means, y, ruled = _training_matrix(encoder, rows, everyday)
    return _out_of_fold(x, means, y, len(rows), l2), ruled


def train_safety_model(
    encoder: Encoder,
    rows: list[dict[str, Any]],
    everyday: Sequence[str] = (),
    max_false_alarm: float = 0.05,
    l2: float = 1.0,
    budgeted: Sequence[bool] | None = None,
    everyday_budgets: Sequence[float] = EVERYDAY_BUDGETS,
) -> SafetyModel:
    """Fit on labelled lines plus `everyday` rehearsal lines (all safe). The threshold is the lowest
    whose out-of-fold false-alarm rate (with the rules) on the labelled safe lines marked in
    `budgeted` (default: all) stays within `max_false_alarm`, and on the everyday lines within a
    budget of their own (see `pick_everyday_budget`): as much recall as those budgets of pauses
    allow. Lines written as deliberately hard twins of crisis lines can be left out of the first
    budget, so that adding them teaches the model without raising the threshold."""
    from rehearsal.tagger import fit_logistic

    labelled = len(rows)
    x, means, y, ruled = _training_matrix(encoder, rows, everyday)
    crisis = y[:, 0] == 1
    index = np.arange(len(y))
    oof = _out_of_fold(x, means, y, labelled, l2)
    counted = np.zeros(len(y), dtype=bool)
    counted[:labelled] = True if budgeted is None else np.asarray(budgeted, dtype=bool)
    ordinary = index >= labelled
    budget = ~crisis & counted
    table = budget_table(oof, ruled, crisis, budget, ordinary, max_false_alarm, everyday_budgets)
    everyday_budget, threshold, recall, false_alarm, everyday_false_alarm = chosen_budget(table)
    anchors = index[:labelled]
    weights = fit_logistic(_with_neighbours(x, means, index, anchors, crisis).astype(np.float64), y, l2)
    return SafetyModel(
        weights=weights.astype(np.float32),
        threshold=threshold,
        anchors=_quantise(means[:labelled]),
        anchor_crisis=crisis[:labelled],
        cv_recall=recall,
        cv_false_alarm=false_alarm,
        cv_everyday_false_alarm=everyday_false_alarm,
        everyday_budget=everyday_budget,
        budget_table=table,
        oof=oof,
        ruled=ruled,
    )


def pick_everyday_budget(table: Sequence[tuple[float, ...]], slack: float = RECALL_SLACK) -> float:
    """The tightest false-alarm budget for everyday talk that costs at most `slack` out-of-fold
    recall against the loosest candidate. `table` holds rows of (budget, threshold, recall, …) per
    candidate, loosest last. Everyday talk is most of what users type: a pause there interrupts
    ordinary practice, so it gets its own budget, but not at any price in recall."""
    loosest_recall = table[-1][2]
    return min(row[0] for row in table if row[2] >= loosest_recall - slack)


def pick_threshold(
    oof: np.ndarray,
    ruled: np.ndarray,
    crisis: np.ndarray,
    budget: np.ndarray,
    max_false_alarm: float = 0.05,
    second_budget: tuple[np.ndarray, float] | None = None,
) -> tuple[float, float, float]:
    """The lowest threshold on out-of-fold scores `oof` whose false alarms, together with the lines
    the rules pause (`ruled`), stay within `max_false_alarm` on the safe lines marked in `budget`
    (and, given `second_budget` = (lines, limit), within that limit on those lines too); with the
    recall on the `crisis` lines and the false-alarm rate on `budget` it gives."""
    budgets = [(budget, max_false_alarm)]
    if second_budget is not None and second_budget[0].any():
        budgets.append(second_budget)
    threshold = 0.99
    for candidate in np.linspace(0.99, 0.01, 99):
        fired = (oof >= candidate) | ruled
        if any(fired[lines].mean() > limit for lines, limit in budgets):
            break
        threshold = float(candidate)
    fired = (oof >= threshold) | ruled
    return threshold, float(fired[crisis].mean()), float(fired[budget].mean())
