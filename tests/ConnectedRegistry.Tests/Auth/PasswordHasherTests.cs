using ConnectedRegistry.Auth;
using Microsoft.Extensions.Time.Testing;

namespace ConnectedRegistry.Tests.Auth;

public class PasswordHasherTests
{
    [Fact]
    public void Hash_is_self_describing_pbkdf2_with_at_least_100k_iterations()
    {
        var hash = PasswordHasher.Hash("s3cret");
        var parts = hash.Split('$');
        Assert.Equal(4, parts.Length);
        Assert.Equal("pbkdf2-sha256", parts[0]);
        Assert.True(int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) >= 100_000);
        Assert.Equal(16, Convert.FromBase64String(parts[2]).Length);
        Assert.Equal(32, Convert.FromBase64String(parts[3]).Length);
    }

    [Fact]
    public void Right_password_verifies_and_wrong_one_does_not()
    {
        var hash = PasswordHasher.Hash("correct horse");
        Assert.True(PasswordHasher.Verify("correct horse", hash));
        Assert.False(PasswordHasher.Verify("correct hors", hash));
        Assert.False(PasswordHasher.Verify("", hash));
    }

    [Fact]
    public void Same_password_gets_a_different_salt_each_time()
    {
        Assert.NotEqual(PasswordHasher.Hash("same"), PasswordHasher.Hash("same"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("plaintext")]
    [InlineData("sha256$100000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
    [InlineData("pbkdf2-sha256$99$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
    [InlineData("pbkdf2-sha256$999999999$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
    [InlineData("pbkdf2-sha256$100000$not-base64!$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
    [InlineData("pbkdf2-sha256$100000$AAAAAAAAAAAAAAAAAAAAAA==")]
    public void Malformed_hashes_never_verify_and_never_throw(string? stored)
    {
        Assert.False(PasswordHasher.IsWellFormed(stored));
        Assert.False(PasswordHasher.Verify("anything", stored));
    }

    [Fact]
    public void Changing_the_iteration_count_of_a_hash_breaks_it()
    {
        var hash = PasswordHasher.Hash("pw");
        var parts = hash.Split('$');
        var tampered = $"{parts[0]}$150000${parts[2]}${parts[3]}";
        Assert.True(PasswordHasher.IsWellFormed(tampered));
        Assert.False(PasswordHasher.Verify("pw", tampered));
    }

    [Fact]
    public async Task Verifier_runs_the_kdf_once_for_repeated_successful_logins_until_the_cache_expires()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var options = new AuthOptions();
        var verifier = new CredentialVerifier(time, options);
        var hash = PasswordHasher.Hash("pw");

        for (var i = 0; i < 20; i++)
        {
            Assert.True(await verifier.VerifyAsync("puller", "pw", hash, default));
        }

        Assert.Equal(1, verifier.KdfRuns);

        time.Advance(options.VerificationCacheLifetime + TimeSpan.FromSeconds(1));
        Assert.True(await verifier.VerifyAsync("puller", "pw", hash, default));
        Assert.Equal(2, verifier.KdfRuns);
    }

    [Fact]
    public async Task A_credential_in_use_stays_remembered_past_the_lifetime_of_its_first_check()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var options = new AuthOptions();
        var verifier = new CredentialVerifier(time, options);
        var hash = PasswordHasher.Hash("pw");
        Assert.True(await verifier.VerifyAsync("cell-1", "pw", hash, default));

        // A child that signs in every minute for an hour: one KDF run in all.
        for (var minute = 0; minute < 60; minute++)
        {
            time.Advance(TimeSpan.FromMinutes(1));
            Assert.True(verifier.IsRemembered("cell-1", "pw", hash));
        }

        Assert.Equal(1, verifier.KdfRuns);
        Assert.False(verifier.IsRemembered("cell-1", "wrong", hash));
    }

    [Fact]
    public void Concurrent_checks_of_the_same_credential_share_one_kdf_run()
    {
        var verifier = new CredentialVerifier(new FakeTimeProvider(), new AuthOptions { MaxConcurrentKdfRuns = 1, KdfQueueLength = 2 });
        var hash = PasswordHasher.Hash("pw");

        // Twelve threads of their own (as twelve requests of one client), all asking at the same instant.
        using var start = new Barrier(12);
        var results = new bool[12];
        var threads = Enumerable.Range(0, 12).Select(i => new Thread(() =>
        {
            start.SignalAndWait();
            try
            {
                results[i] = verifier.VerifyAsync("pusher", "pw", hash, default).GetAwaiter().GetResult();
            }
            catch (ConnectedRegistry.Oci.OciException)
            {
                results[i] = false; // the gate was full
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.All(results, Assert.True);
        Assert.Equal(1, verifier.KdfRuns);
    }

    [Fact]
    public async Task Verifier_never_caches_failures_and_keys_the_cache_on_name_password_and_hash()
    {
        var verifier = new CredentialVerifier(new FakeTimeProvider(), new AuthOptions());
        var hash = PasswordHasher.Hash("pw");
        Assert.True(await verifier.VerifyAsync("puller", "pw", hash, default));
        Assert.False(await verifier.VerifyAsync("puller", "wrong", hash, default));
        Assert.False(await verifier.VerifyAsync("puller", "wrong", hash, default));
        Assert.Equal(3, verifier.KdfRuns);

        // Another name, or the same password against a rotated hash, is a new check.
        Assert.True(await verifier.VerifyAsync("other", "pw", hash, default));
        Assert.False(await verifier.VerifyAsync("puller", "pw", PasswordHasher.Hash("new"), default));
        Assert.Equal(5, verifier.KdfRuns);
    }

    [Fact]
    public async Task Verifier_answers_an_unknown_name_as_slowly_as_a_kdf_run_without_running_one()
    {
        var verifier = new CredentialVerifier(new FakeTimeProvider(), new AuthOptions());
        verifier.Prepare();
        var kdf = verifier.KdfDuration;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await verifier.UnknownNameAsync(default);
        Assert.True(watch.Elapsed >= kdf * 0.9, $"waited {watch.Elapsed.TotalMilliseconds:F0} ms, a KDF run takes {kdf.TotalMilliseconds:F0} ms");
        Assert.Equal(0, verifier.KdfRuns);
    }
}
