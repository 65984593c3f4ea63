# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The app's page in headless Chromium (Debian's chromium and chromium-driver, installed by
`make browser`, which `make test` runs): it loads with every request going to the app's own
server (other host names do not resolve), a typed prompt generates, and the result video plays.
"""

import json
import pathlib
import tempfile
import urllib.parse

import pytest

CHROMIUM, CHROMEDRIVER = pathlib.Path('/usr/bin/chromium'), pathlib.Path('/usr/bin/chromedriver')
TIMEOUT_S = 240  # the first request compiles the sampler


@pytest.fixture
def browser():
  if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.fail(f'{CHROMIUM} / {CHROMEDRIVER} missing: run `make browser` (apt chromium)')
  from selenium import webdriver  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.chrome.service import Service  # pylint: disable=g-import-not-at-top

  options = webdriver.ChromeOptions()
  options.binary_location = str(CHROMIUM)
  with tempfile.TemporaryDirectory() as profile:
    for flag in (
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--autoplay-policy=no-user-gesture-required',
        '--window-size=1400,1000',
        # Offline: no host name but the app's resolves.
        '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
        f'--user-data-dir={profile}',
    ):
      options.add_argument(flag)
    options.set_capability('goog:loggingPrefs', {'performance': 'ALL'})
    # An explicit driver: Selenium Manager would otherwise look for (and download) one.
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
      yield driver
    finally:
      driver.quit()


def _requested_urls(driver) -> set[str]:
  urls = set()
  for entry in driver.get_log('performance'):
    message = json.loads(entry['message'])['message']
    if message['method'] == 'Network.requestWillBeSent':
      urls.add(message['params']['request']['url'])
  return urls


def test_page_generates_and_plays(app_url, browser):
  from selenium.webdriver.common.by import By  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.support import expected_conditions as ec  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=g-import-not-at-top

  browser.get(app_url)
  wait = WebDriverWait(browser, TIMEOUT_S)
  prompt = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, '#prompt textarea')))
  prompt.send_keys('a green triangle moving up')
  browser.find_element(By.CSS_SELECTOR, '#generate').click()
  # The progress bar shows MaskGIT steps while it runs.
  wait.until(lambda d: 'step' in d.find_element(By.TAG_NAME, 'body').text.lower())
  video = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, '#result-video video')))
  wait.until(lambda d: d.execute_script('return arguments[0].currentTime > 0.1', video))
  assert browser.execute_script('return !arguments[0].paused && !arguments[0].error', video)
  assert video.get_attribute('src').endswith('.mp4')
  wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#gallery img, #gallery video'))
  assert 'a green triangle moving up' in browser.find_element(By.TAG_NAME, 'body').text
  origin = urllib.parse.urlsplit(app_url)
  foreign = {
      u
      for u in _requested_urls(browser)
      if urllib.parse.urlsplit(u).scheme in ('http', 'https', 'ws', 'wss')  # not the browser's own
      and urllib.parse.urlsplit(u).netloc != origin.netloc
  }
  assert not foreign, f'the page fetched from elsewhere: {sorted(foreign)}'
