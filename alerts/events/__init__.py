"""Events (事件): the coordination mechanism at work during an emergency.

An event groups warning chains, drafts, department tasks, acknowledgements (叫应) with their
escalation, policy explanations (政策解读) and rumour responses (舆情引导) until it is closed.

    alert ─► opening ─► event ─┬─► tasks (departments.yaml) ─┐
                               ├─► 叫应 callouts (roster) ────┼─► escalation job ─► channels
                               ├─► policy explanations ─┐     └─◄ acknowledgements (SMS reply, link, console)
                               └─► rumour responses ────┴─► draft → review → sign-off → approve → fan-out
"""
