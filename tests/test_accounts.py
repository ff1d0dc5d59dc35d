"""Accounts: keyed by issuer and subject; names and admin rights only from verified claims."""

import pytest

from imagegen import Forbidden, GenerationRequest, Settings, Studio

IDP = "https://login.example.com"


def claims(sub, **extra):
    return {"iss": IDP, "sub": sub, **extra}


@pytest.fixture
def oidc_studio(data_dir):
    return Studio(Settings(data_dir=data_dir, offline_delay=0, auth="oidc", admins=("ann@example.com",),
                           admin_claim="roles", admin_claim_value="imagegen-admin"))  # fmt: skip


def test_a_verified_email_names_the_account_and_takes_over_rows_keyed_by_it(oidc_studio):
    oidc_studio.generate(GenerationRequest("before accounts"), "ann@example.com")
    ann = oidc_studio.sign_in(claims("a-1", email="Ann@Example.com", email_verified=True, name="Ann"))
    assert ann.user == "ann@example.com" and ann.display == "Ann" and ann.is_admin
    assert oidc_studio.allowance(ann.user).images_used == 1  # the history keyed by email is hers
    again = oidc_studio.sign_in(claims("a-1", email="ann@other.example", email_verified=True))
    assert again.user == "ann@example.com" and not again.is_admin  # the name stays; the right follows the claims


def test_a_second_account_with_the_same_verified_email_does_not_get_its_name(oidc_studio):
    oidc_studio.sign_in(claims("a-1", email="ann@example.com", email_verified=True))
    other = oidc_studio.sign_in(claims("a-2", email="ann@example.com", email_verified=True))
    assert other.user == "login.example.com:a-2"


@pytest.mark.parametrize("verified", [False, "false", None, "yes"])
def test_an_unverified_email_is_never_a_name_or_an_admin_right(oidc_studio, verified):
    forged = oidc_studio.sign_in(
        claims("m-1", email="ann@example.com", email_verified=verified, name="ann@example.com")
    )
    assert forged.user == "login.example.com:m-1" and not forged.is_admin
    assert not oidc_studio.is_admin("login.example.com:m-1")


@pytest.mark.parametrize(("roles", "admin"), [(["imagegen-admin"], True), ("staff imagegen-admin", True),
                                              (["staff"], False), (None, False)])  # fmt: skip
def test_a_role_claim_grants_admin(oidc_studio, roles, admin):
    who = oidc_studio.sign_in(claims("r-1", roles=roles))
    assert who.is_admin is admin and oidc_studio.is_admin(who.user) is admin


@pytest.mark.parametrize("bad", [{"iss": IDP}, {"sub": "x"}, {"iss": IDP, "sub": "  "}, {"iss": IDP, "sub": 5}])
def test_claims_without_a_subject_are_refused(oidc_studio, bad):
    with pytest.raises(Forbidden):
        oidc_studio.sign_in(bad)


def test_a_name_in_the_admins_list_is_no_admin_right_when_signed_in_by_provider(oidc_studio):
    assert not oidc_studio.is_admin("ann@example.com")  # no account has signed in with that verified email


@pytest.mark.parametrize(
    "subject",
    [
        "s" * 255,  # the longest subject the standard allows
        "s" * 10_000,
        "line\nbreak",
        "tab\there",
        "\u200b\u200b",  # nothing visible
        "ann\x00",
        "x" * 190 + "\u2028",
    ],
)
def test_every_subject_the_provider_can_send_gives_an_account_that_can_generate(oidc_studio, subject):
    for verified in (False, True):
        identity = oidc_studio.sign_in(claims(subject, email="a\nb@example.com", email_verified=verified))
        assert identity.user.isprintable() and 0 < len(identity.user) <= 200
        assert oidc_studio.generate(GenerationRequest("a lighthouse"), identity.user).status == "succeeded"
        assert oidc_studio.sign_in(claims(subject)).user == identity.user  # the same account next time


@pytest.mark.parametrize("issuer", ["https://[::1", "not a url", "https://lo\u200bgin.example.com", ""])
def test_an_odd_issuer_still_names_a_usable_account(oidc_studio, issuer):
    identity = oidc_studio.sign_in({"iss": issuer or "x", "sub": "s\n1"})
    assert identity.user.isprintable() and oidc_studio.allowance(identity.user).images_used == 0


def test_two_long_subjects_that_start_alike_are_two_users(oidc_studio):
    first = oidc_studio.sign_in(claims("p" * 300 + "1"))
    second = oidc_studio.sign_in(claims("p" * 300 + "2"))
    assert first.user != second.user


@pytest.mark.parametrize("name", ["ann\tb", "ann\nb", "a" * 201, "\u200b", "an\u2028n", "ann\x1b[31m"])
def test_a_user_name_has_one_rule_for_every_way_in(oidc_studio, name):
    from imagegen import InvalidRequest, SettingsError

    with pytest.raises(InvalidRequest, match="printable characters"):
        oidc_studio.generate(GenerationRequest("a lighthouse"), name)
    with pytest.raises(InvalidRequest):
        oidc_studio.set_quota(name, 3, by="test")
    with pytest.raises(SettingsError, match="IMAGEGEN_LOCAL_USER"):
        Settings(local_user=name).check()


def test_a_repeated_identity_or_secret_header_or_a_list_of_emails_is_refused():
    from imagegen import check_proxy_headers

    identity = ["X-Forwarded-Email", "X-Forwarded-Groups"]
    fine = {"x-forwarded-email": ["ann@example.com"], "X-Imagegen-Proxy-Secret": ["s"]}
    check_proxy_headers(fine, identity, "X-Imagegen-Proxy-Secret", "X-Forwarded-Email")
    for headers, said in (
        ({**fine, "x-forwarded-email": ["mallory@example.com", "ann@example.com"]}, "more than once"),
        ({**fine, "X-Imagegen-Proxy-Secret": ["s", "s"]}, "more than once"),
        ({**fine, "X-Forwarded-Groups": ["staff", "imagegen-admins"]}, "more than once"),
        ({**fine, "x-forwarded-email": ["mallory@example.com, ann@example.com"]}, "a list"),
    ):
        with pytest.raises(Forbidden, match=said):
            check_proxy_headers(headers, identity, "X-Imagegen-Proxy-Secret", "X-Forwarded-Email")


def test_the_proxy_refusals_say_which_header_and_what_to_do():
    from imagegen import check_proxy_headers

    with pytest.raises(Forbidden) as twice:
        check_proxy_headers({"X-Email": ["a@x.com", "b@x.com"]}, ["X-Email"], "X-Secret", "X-Email")
    assert twice.value.message == (
        "The sign-in proxy sent X-Email more than once. It must replace that header, never append to it; "
        "ask an admin to fix the proxy."
    )
    with pytest.raises(Forbidden) as listed:
        check_proxy_headers({"X-Email": ["a@x.com,b@x.com"]}, ["X-Email"], "X-Secret", "X-Email")
    assert listed.value.message == "The sign-in proxy sent a list in X-Email. Ask an admin to fix the proxy."
    # Without an email header named, a comma is no list of emails (a groups header may hold one).
    check_proxy_headers({"X-Groups": ["a,b"]}, ["X-Groups"], "X-Secret")


def test_a_subject_that_fits_the_name_rule_names_the_account_as_it_is(oidc_studio):
    from imagegen.accounts import subject_name

    assert subject_name(IDP, "u-1") == "login.example.com:u-1"
    assert subject_name(IDP, "u-1", "~2") == "login.example.com:u-1~2"
    assert subject_name("not a url", "u-1") == "idp:u-1"
    assert subject_name("https://[::1", "u-1") == "idp:u-1"  # an issuer Python cannot even split
    assert subject_name("https://" + "h" * 100 + ".example.com", "u-1") == "h" * 60 + ":u-1"


def test_a_subject_that_does_not_fit_is_named_by_its_printable_start_and_a_digest_of_the_whole():
    import hashlib

    from imagegen.accounts import subject_name

    subject = "p" * 300
    digest = hashlib.sha256(subject.encode()).hexdigest()[:16]
    name = subject_name(IDP, subject)
    assert name == "login.example.com:" + "p" * 165 + "~" + digest and len(name) == 200
    suffixed = subject_name(IDP, subject, "~2")
    assert suffixed == "login.example.com:" + "p" * 163 + "~" + digest + "~2" and len(suffixed) == 200
    invisible = "\u200b\n"
    assert subject_name(IDP, invisible) == (
        "login.example.com:user~" + hashlib.sha256(invisible.encode()).hexdigest()[:16]
    )
    assert subject_name(IDP, "a\nb") == "login.example.com:ab~" + hashlib.sha256(b"a\nb").hexdigest()[:16]
    lone_surrogate = "x\udc80"  # what a provider's broken JSON can decode to
    assert subject_name(IDP, lone_surrogate).startswith("login.example.com:x~")


def test_accounts_that_would_share_a_name_are_numbered(oidc_studio):
    users = [oidc_studio.sign_in({"iss": f"{IDP}/tenant-{i}", "sub": "u-1"}).user for i in range(3)]
    assert users == ["login.example.com:u-1", "login.example.com:u-1~2", "login.example.com:u-1~3"]


def test_an_identity_says_its_account_and_shows_the_best_name_it_has(oidc_studio):
    plain = oidc_studio.sign_in(claims("d-1"))
    assert (plain.account, plain.display) == (f"{IDP}#d-1", "d-1")
    named = oidc_studio.sign_in(claims("d-2", name="  Dee  ", email="dee@example.com", email_verified=True))
    assert named.display == "Dee"
    mailed = oidc_studio.sign_in(claims("d-3", email="Eve@Example.com ", email_verified="TRUE"))
    assert (mailed.user, mailed.display) == ("eve@example.com", "eve@example.com")


@pytest.mark.parametrize("email", ["no-at-sign", 7, None])
def test_an_email_that_is_no_email_names_nothing(oidc_studio, email):
    assert oidc_studio.sign_in(claims("e-1", email=email, email_verified=True)).user == "login.example.com:e-1"


def test_claims_without_an_issuer_are_refused_saying_why(oidc_studio):
    for bad in ({"iss": "", "sub": "x"}, {"iss": 5, "sub": "x"}, {"iss": IDP, "sub": ""}):
        with pytest.raises(Forbidden) as refused:
            oidc_studio.sign_in(bad)
        assert refused.value.message == "The identity provider did not say who you are (no subject). Ask an admin."


def test_a_group_claim_is_read_from_a_list_or_from_text_split_on_commas_and_spaces(data_dir):
    studio = Studio(Settings(data_dir=data_dir, offline_delay=0, auth="oidc", admin_claim="groups",
                             admin_claim_value="imagegen-admin"))  # fmt: skip
    for groups, admin in (("staff,imagegen-admin", True), ("staff imagegen-admin", True), (("imagegen-admin",), True),
                          ("imagegen-administrators", False), (5, False), ({"imagegen-admin": 1}, False)):  # fmt: skip
        assert studio.sign_in(claims(f"g-{groups!s:.20}", groups=groups)).is_admin is admin, groups
    assert not studio.is_admin("nobody@example.com")
