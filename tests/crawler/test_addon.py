from scrapy.settings import Settings

from crawler.addon import NewsarchiveAddon, default_user_agent

ARCHIVE_SOURCE = "crawler.middlewares.archive_source.ArchiveSourceMiddleware"


def project_settings(**overrides):
    s = Settings()
    s.setmodule("crawler.settings", priority="project")
    for k, v in overrides.items():
        s.set(k, v, priority="cmdline")
    NewsarchiveAddon().update_settings(s)
    return s


def test_user_agent_names_the_contact_url():
    s = project_settings(NEWSARCHIVE_CONTACT_URL="https://desk.example/crawler")
    assert s.get("USER_AGENT") == default_user_agent("https://desk.example/crawler")
    assert s.get("USER_AGENT").startswith("newsarchive/") and "(+https://desk.example/crawler)" in s.get("USER_AGENT")


def test_an_explicit_user_agent_wins():
    assert project_settings(USER_AGENT="MyArchiveBot/2").get("USER_AGENT") == "MyArchiveBot/2"


def test_archive_source_middleware_only_when_enabled():
    assert ARCHIVE_SOURCE not in project_settings().getdict("DOWNLOADER_MIDDLEWARES")
    on = project_settings(NEWSARCHIVE_ARCHIVESOURCE_ENABLED=True)
    assert on.getdict("DOWNLOADER_MIDDLEWARES")[ARCHIVE_SOURCE] == 900
