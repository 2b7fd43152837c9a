package compat;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/** What the Java v1 and v2 suites share: the servers, names, patterns and time checks. */
final class Fixtures {
    static final String REGION = "us-east-1";
    static final String ACCOUNT = "000000000000";
    static final int QUOTA = 10;
    static final Pattern ID = Pattern.compile("^[A-Za-z0-9]{12}$");
    static final Pattern ROOM_ARN =
            Pattern.compile("^arn:aws:ivschat:us-east-1:000000000000:room/([A-Za-z0-9]{12})$");
    static final Pattern LOGGING_ARN = Pattern.compile(
            "^arn:aws:ivschat:us-east-1:000000000000:logging-configuration/([A-Za-z0-9]{12})$");
    static final Pattern TOKEN = Pattern.compile("^[A-Za-z0-9_-]+$");
    static final String UNKNOWN_ROOM_ID = "ZZZZZZZZZZZZ";
    static final String UNKNOWN_ROOM_ARN =
            "arn:aws:ivschat:" + REGION + ":" + ACCOUNT + ":room/" + UNKNOWN_ROOM_ID;

    private Fixtures() {}

    /** The shared server (IVSCHAT_ENDPOINT), set by tests/compat/run-java.sh. */
    static String endpoint() {
        return env("IVSCHAT_ENDPOINT");
    }

    /** The second server: SendEvent at 1 request/s, and a logging quota this suite may fill. */
    static String slowEndpoint() {
        return env("IVSCHAT_SLOW_ENDPOINT");
    }

    private static String env(String name) {
        String value = System.getenv(name);
        if (value == null || value.isEmpty()) {
            fail(name + " is not set (run tests/compat/run-java.sh ENDPOINT_URL)");
        }
        return value;
    }

    static String unique(String prefix) {
        return prefix + "-java-" + System.nanoTime() + "-" + ThreadLocalRandom.current().nextInt(1_000_000);
    }

    static String lambdaArn() {
        return "arn:aws:lambda:" + REGION + ":" + ACCOUNT + ":function:" + unique("review");
    }

    /** A timestamp within 5 s of `want` (the server's clock is this machine's). */
    static void near(Instant got, Instant want, String what) {
        assertTrue(got != null, what + " missing");
        Duration d = Duration.between(want, got).abs();
        assertTrue(d.compareTo(Duration.ofSeconds(5)) < 0, what + " = " + got + ", want about " + want);
    }

    static void matches(Pattern pattern, String value, String what) {
        assertTrue(value != null && pattern.matcher(value).matches(), what + " = " + value);
    }
}
