#!/usr/bin/env python3
"""Drives Roundcube in headless Chromium through Selenium, as a user would.

Usage: driver.py BASE_URL USER PASSWORD SCREENSHOT_DIR

Run by tests/wire/roundcube.rs, which serves Roundcube against Roost and
checks Roost's trace afterwards. Each step prints "step: NAME"; on failure a
screenshot and the page source land in SCREENSHOT_DIR (path printed) and the
exit status is 1. Every wait is bounded.
"""

import os
import sys
import traceback

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 20  # seconds, for any one condition


def subjects(d):
    """The subjects of the rows shown (a folded thread's replies are not)."""
    return d.execute_script(
        "return [...document.querySelectorAll('#messagelist tbody tr')]"
        ".filter(r => r.style.display != 'none')"
        ".map(r => (r.querySelector('td.subject span.subject a') || {}).textContent || '')"
        ".map(s => s.trim())"
    )


def idle(d):
    """Roundcube has no request in flight and the list is drawn."""
    return d.execute_script(
        "return window.rcmail && !rcmail.busy && !!document.querySelector('#messagelist tbody tr')"
    )


def not_busy(d):
    return d.execute_script("return window.rcmail && !rcmail.busy")


def click_when_idle(d, element):
    """Roundcube drops commands while a request is in flight: click once it
    has none (the next preview loads right after a move or delete)."""
    WebDriverWait(d, WAIT).until(not_busy)
    element.click()


def row_of(d, subject):
    for row in d.find_elements(By.CSS_SELECTOR, "#messagelist tbody tr"):
        if row.find_element(By.CSS_SELECTOR, "td.subject span.subject a").text.strip() == subject:
            return row
    raise AssertionError(f"no row {subject!r} in {subjects(d)}")


def main():
    base, user, password, shots = sys.argv[1:5]
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-sync",
        "--window-size=1400,900",
        f"--user-data-dir={os.environ['TMPDIR']}/profile",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    step = "start"
    try:
        wait = WebDriverWait(driver, WAIT)

        step = "log in"
        print("step:", step, flush=True)
        driver.get(base + "/?_task=login")
        wait.until(lambda d: d.find_elements(By.ID, "rcmloginuser"))
        driver.find_element(By.ID, "rcmloginuser").send_keys(user)
        driver.find_element(By.ID, "rcmloginpwd").send_keys(password)
        driver.find_element(By.ID, "rcmloginsubmit").click()

        step = "INBOX listed"
        print("step:", step, flush=True)
        wait.until(lambda d: idle(d) and len(subjects(d)) == 4)
        selected = driver.execute_script("return rcmail.env.mailbox")
        assert selected == "INBOX", selected

        step = "sort by subject"
        print("step:", step, flush=True)
        driver.execute_script("rcmail.command('sort', 'subject')")
        wait.until(lambda d: d.execute_script("return rcmail.env.sort_col") == "subject" and idle(d))
        wait.until(lambda d: subjects(d)[0] == "Apple pie")
        got = subjects(driver)
        # Server-side (RFC 5256 base subject): the reply sorts with its
        # original, not after every plain subject.
        want = ["Apple pie", "Re: Apple pie", "Quarterly report", "Zebra crossing"]
        assert got == want, got

        step = "threads"
        print("step:", step, flush=True)
        driver.execute_script("rcmail.set_list_options(null, undefined, undefined, 1)")
        wait.until(lambda d: d.execute_script("return rcmail.env.threading") and idle(d))
        # Three threads, the reply folded under its original: unfold them.
        wait.until(lambda d: len(subjects(d)) == 3 and len(
            d.find_elements(By.CSS_SELECTOR, "#messagelist tr.thread")) >= 1)
        driver.execute_script("rcmail.command('expand-all')")
        wait.until(lambda d: row_of(d, "Re: Apple pie").is_displayed())
        # The reply is indented under its original (Elastic pads the
        # subject cell by depth), the other threads are not.
        def x(subject):
            return row_of(driver, subject).find_element(
                By.CSS_SELECTOR, "td.subject span.subject a").location["x"]
        assert x("Re: Apple pie") > x("Apple pie"), (x("Re: Apple pie"), x("Apple pie"))
        assert x("Apple pie") == x("Zebra crossing"), (x("Apple pie"), x("Zebra crossing"))

        step = "quota bar"
        print("step:", step, flush=True)
        wait.until(
            lambda d: d.execute_script(
                "var c = document.querySelector('#quotadisplay .count');"
                "return c && /\\d/.test(c.textContent)"
            )
        )
        quota = driver.execute_script(
            "var c = document.querySelector('#quotadisplay .count');"
            "return c.textContent + ' | ' + (c.getAttribute('title') || '')"
        )
        print("quota:", quota, flush=True)
        # The usage Roost reported (1 KB of 10 MB) in the bar's tooltip.
        assert "%" in quota and "10 MB" in quota, quota

        step = "open a message with an attachment"
        print("step:", step, flush=True)
        ActionChains(driver).double_click(row_of(driver, "Quarterly report")).perform()
        wait.until(lambda d: "_action=show" in d.current_url)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#attachment-list li"))
        names = driver.find_element(By.ID, "attachment-list").text
        assert "report.pdf" in names, names
        driver.get(base + "/?_task=mail&_mbox=INBOX")
        wait.until(lambda d: idle(d) and "Zebra crossing" in subjects(d))

        step = "move to a folder by the menu"
        print("step:", step, flush=True)
        click_when_idle(driver, row_of(driver, "Zebra crossing"))
        wait.until(lambda d: d.execute_script("return rcmail.message_list.get_selection().length") == 1)
        # More → Move to… → the folder, as a user clicks them.
        click_when_idle(driver, driver.find_element(By.ID, "messagemenulink"))
        move = wait.until(
            lambda d: [a for a in d.find_elements(By.CSS_SELECTOR, "#message-menu a.move")
                       if a.is_displayed() and "disabled" not in (a.get_attribute("class") or "")]
        )
        click_when_idle(driver, move[0])
        target = wait.until(
            lambda d: [a for a in d.find_elements(By.CSS_SELECTOR, "#folder-selector a.active")
                       if a.text.strip() == "Archive" and a.is_displayed()]
        )
        click_when_idle(driver, target[0])
        wait.until(lambda d: idle(d) and "Zebra crossing" not in subjects(d))

        step = "delete"
        print("step:", step, flush=True)
        click_when_idle(driver, row_of(driver, "Quarterly report"))
        wait.until(lambda d: d.execute_script("return rcmail.message_list.get_selection().length") == 1)
        button = wait.until(
            lambda d: [b for b in d.find_elements(By.CSS_SELECTOR, "a.delete")
                       if b.is_displayed() and "disabled" not in (b.get_attribute("class") or "")]
        )
        click_when_idle(driver, button[0])
        wait.until(lambda d: idle(d) and "Quarterly report" not in subjects(d))

        step = "log out"
        print("step:", step, flush=True)
        logout = [a for a in driver.find_elements(By.CSS_SELECTOR, "a.logout") if a.is_displayed()]
        assert logout, "no logout link"
        # A click landing while the next message's preview loads in its
        # frame can be dropped: click again (three times at most).
        for attempt in range(3):
            click_when_idle(driver, logout[0])
            try:
                WebDriverWait(driver, 5).until(lambda d: d.find_elements(By.ID, "rcmloginuser"))
                break
            except TimeoutException:
                if attempt == 2:
                    raise
        print("done", flush=True)
        return 0
    except Exception:
        traceback.print_exc()
        os.makedirs(shots, exist_ok=True)
        shot = os.path.join(shots, "failure.png")
        driver.save_screenshot(shot)
        with open(os.path.join(shots, "page.html"), "w") as f:
            f.write(driver.page_source)
        print(f"FAILED at step {step!r}; screenshot and page in {shots}", flush=True)
        return 1
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
