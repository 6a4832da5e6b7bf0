"""Discord rendering shared by the generation cogs: buttons, embeds, the job presenter."""
