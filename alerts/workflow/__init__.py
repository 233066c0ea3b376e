"""The 应急科普宣教协同机制 workflow: draft states, who may decide, and the audit trail."""
