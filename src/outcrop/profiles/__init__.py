"""Application inference profiles: named copies of a model or a system profile that teams invoke
to attribute usage, stored durably and invocable wherever a model id is taken."""
