"""The rehearsal room (Streamlit). Each room is a page in `ui/`; the work happens in `rehearsal`.

Choose    ui/choose.py    the scenario library
Rehearse  ui/rehearse.py  the conversation with live feedback
Review    ui/review.py    a session's report, exports, delete
Progress  ui/progress.py  trends across sessions
Author    ui/author.py    write a scenario
Settings  ui/settings.py  the model and your data
"""

from __future__ import annotations

import streamlit as st

from ui import state

st.set_page_config(page_title="Rehearsal room", page_icon=":material/forum:", layout="wide")

PAGES = [
    st.Page("ui/choose.py", title="Choose", icon=":material/library_books:", default=True),
    st.Page("ui/rehearse.py", title="Rehearse", icon=":material/forum:"),
    st.Page("ui/review.py", title="Review", icon=":material/summarize:"),
    st.Page("ui/progress.py", title="Progress", icon=":material/trending_up:"),
    st.Page("ui/author.py", title="Author", icon=":material/edit_note:"),
    st.Page("ui/settings.py", title="Settings", icon=":material/settings:"),
]


def model_status() -> None:
    """The model starts in the background on the first view; the status line follows it until ready."""
    loader = state.model_loader(state.settings())
    if loader.error is not None:
        st.error(loader.status())
    elif loader.ready:
        st.caption(f":material/check_circle: {loader.status()}")
    else:
        model_warming_up()


@st.fragment(run_every=1.0)
def model_warming_up() -> None:
    loader = state.model_loader(state.settings())
    if loader.ready:
        st.rerun()  # the whole app, so the fragment stops polling
    st.caption(f":material/hourglass_top: {loader.status()}")


navigation = st.navigation(PAGES)
with st.sidebar:
    model_status()
    st.caption("Practice, not therapy or crisis care. Your data stays on this machine.")
navigation.run()
