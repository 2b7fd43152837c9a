package compat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;

/** Deletes what a test made, newest first, after it (also when it failed). */
abstract class CleansUp {
    private final List<Runnable> cleanups = new ArrayList<>();

    /** Runs `deletion` after the test; a resource already gone is fine. */
    protected void afterTest(Runnable deletion) {
        cleanups.add(deletion);
    }

    @AfterEach
    void cleanUp() {
        for (int i = cleanups.size() - 1; i >= 0; i--) {
            try {
                cleanups.get(i).run();
            } catch (RuntimeException ignored) {
                // already gone
            }
        }
    }
}
