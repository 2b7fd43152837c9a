package compat;

import static compat.Fixtures.*;
import static org.junit.jupiter.api.Assertions.*;

import java.net.URI;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.ivschat.IvschatClient;
import software.amazon.awssdk.services.ivschat.model.*;

/**
 * The AWS SDK for Java v2 ({@code IvschatClient}) against a running ivschat-server: one test
 * per scenario of tests/compat/matrix/scenarios.toml (the method's name is the scenario id),
 * each asserting on what the SDK parsed. The endpoint is overridden the way v2 documents it,
 * with {@code endpointOverride}.
 */
class JavaV2Test extends CleansUp {
    static IvschatClient client(String endpoint, String accessKey, String secret) {
        return IvschatClient.builder()
                .endpointOverride(URI.create(endpoint))
                .region(Region.US_EAST_1)
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(accessKey, secret)))
                .httpClient(UrlConnectionHttpClient.create())
                // No retries: every error is the server's first answer.
                .overrideConfiguration(o -> o.retryStrategy(AwsRetryStrategy.doNotRetry()))
                .build();
    }

    private final IvschatClient c = client(endpoint(), "test", "test");

    private CreateRoomResponse room(CreateRoomRequest request) {
        CreateRoomResponse room = c.createRoom(request);
        afterTest(() -> c.deleteRoom(r -> r.identifier(room.arn())));
        return room;
    }

    private CreateRoomResponse room() {
        return room(CreateRoomRequest.builder().build());
    }

    private CreateLoggingConfigurationResponse logging(IvschatClient client, String name, DestinationConfiguration dest) {
        CreateLoggingConfigurationResponse cfg =
                client.createLoggingConfiguration(r -> r.name(name).destinationConfiguration(dest));
        afterTest(() -> client.deleteLoggingConfiguration(r -> r.identifier(cfg.arn())));
        return cfg;
    }

    private static DestinationConfiguration s3() {
        return DestinationConfiguration.fromS3(b -> b.bucketName("java-v2-bucket"));
    }

    private static Map<String, DestinationConfiguration> destinations() {
        return Map.of(
                "s3", s3(),
                "cloudWatchLogs", DestinationConfiguration.fromCloudWatchLogs(b -> b.logGroupName("/aws/ivschat/java-v2")),
                "firehose", DestinationConfiguration.fromFirehose(b -> b.deliveryStreamName("java-v2-stream")));
    }

    /** The exception `call` throws, of `type`, with `status`. */
    private static <E extends AwsServiceException> E fails(Class<E> type, int status, Executable call) {
        E e = assertThrows(type, call);
        assertEquals(status, e.statusCode(), e.toString());
        assertNotNull(e.requestId(), "request id");
        return e;
    }

    private static void notFound(String id, Executable call) {
        ResourceNotFoundException e = fails(ResourceNotFoundException.class, 404, call);
        assertEquals(id, e.resourceId());
        assertEquals(ResourceType.ROOM, e.resourceType());
        assertEquals("ResourceNotFoundException", e.awsErrorDetails().errorCode());
    }

    private static void validation(String field, Executable call) {
        ValidationException e = fails(ValidationException.class, 400, call);
        assertEquals(ValidationExceptionReason.FIELD_VALIDATION_FAILED, e.reason());
        Set<String> names = new HashSet<>();
        for (ValidationExceptionField f : e.fieldList()) {
            names.add(f.name());
            assertFalse(f.message() == null || f.message().isEmpty(), "no message for " + f.name());
        }
        // Names are JSON pointers to the member, as AWS sends them.
        assertTrue(names.contains("/" + field), names + " does not name " + field);
    }

    // ------------------------------------------------------------------------------ rooms

    @Test
    void CreateRoom() {
        Instant before = Instant.now();
        CreateRoomResponse room = room();
        matches(ROOM_ARN, room.arn(), "arn");
        assertTrue(room.arn().endsWith("/" + room.id()));
        assertEquals("", room.name());
        assertEquals(10, room.maximumMessageRatePerSecond());
        assertEquals(500, room.maximumMessageLength());
        assertNull(room.messageReviewHandler().uri());
        assertEquals(FallbackResult.ALLOW, room.messageReviewHandler().fallbackResult());
        assertTrue(room.hasTags() && room.tags().isEmpty(), "tags present and empty");
        assertTrue(room.loggingConfigurationIdentifiers().isEmpty());
        near(room.createTime(), before, "createTime");
        near(room.updateTime(), before, "updateTime");

        CreateLoggingConfigurationResponse cfg = logging(c, unique("cfg"), s3());
        String uri = lambdaArn();
        String name = unique("room");
        Map<String, String> tags = Map.of("team", "compat", "empty", "");
        CreateRoomResponse full = room(CreateRoomRequest.builder().name(name).maximumMessageRatePerSecond(42)
                .maximumMessageLength(123)
                .messageReviewHandler(h -> h.uri(uri).fallbackResult(FallbackResult.DENY))
                .tags(tags).loggingConfigurationIdentifiers(cfg.arn()).build());
        assertEquals(name, full.name());
        assertEquals(42, full.maximumMessageRatePerSecond());
        assertEquals(123, full.maximumMessageLength());
        assertEquals(uri, full.messageReviewHandler().uri());
        assertEquals(FallbackResult.DENY, full.messageReviewHandler().fallbackResult());
        assertEquals(tags, full.tags());
        assertEquals(List.of(cfg.arn()), full.loggingConfigurationIdentifiers());

        CreateRoomResponse only = room(CreateRoomRequest.builder().messageReviewHandler(h -> h.uri(uri)).build());
        assertEquals(FallbackResult.ALLOW, only.messageReviewHandler().fallbackResult());
    }

    @Test
    void GetRoom() {
        CreateRoomResponse room = room(CreateRoomRequest.builder().name(unique("get")).tags(Map.of("k", "v")).build());
        GetRoomResponse got = c.getRoom(r -> r.identifier(room.arn()));
        assertEquals(room.arn(), got.arn());
        assertEquals(room.id(), got.id());
        assertEquals(room.name(), got.name());
        assertEquals(room.createTime(), got.createTime());
        assertEquals(room.updateTime(), got.updateTime());
        assertEquals(500, got.maximumMessageLength());
        assertEquals(Map.of("k", "v"), got.tags());
    }

    @Test
    void UpdateRoom() {
        CreateLoggingConfigurationResponse cfg = logging(c, unique("cfg"), s3());
        String uri = lambdaArn();
        CreateRoomResponse room = room(CreateRoomRequest.builder().name(unique("upd")).maximumMessageRatePerSecond(7)
                .maximumMessageLength(77).messageReviewHandler(h -> h.uri(uri).fallbackResult(FallbackResult.DENY))
                .loggingConfigurationIdentifiers(cfg.arn()).build());
        UpdateRoomResponse upd = c.updateRoom(r -> r.identifier(room.arn()).maximumMessageLength(99));
        assertEquals(99, upd.maximumMessageLength());
        assertEquals(7, upd.maximumMessageRatePerSecond());
        assertEquals(room.name(), upd.name());
        assertEquals(uri, upd.messageReviewHandler().uri());
        assertEquals(List.of(cfg.arn()), upd.loggingConfigurationIdentifiers());
        assertEquals(room.createTime(), upd.createTime());
        assertTrue(upd.updateTime().isAfter(room.updateTime()), upd.updateTime() + " not after " + room.updateTime());

        // An empty URI removes the handler; an empty list detaches every logging configuration.
        UpdateRoomResponse cleared = c.updateRoom(r -> r.identifier(room.arn())
                .messageReviewHandler(h -> h.uri("")).loggingConfigurationIdentifiers(List.of()));
        assertTrue(cleared.messageReviewHandler() == null || cleared.messageReviewHandler().uri() == null
                || cleared.messageReviewHandler().uri().isEmpty(), String.valueOf(cleared.messageReviewHandler()));
        assertTrue(cleared.loggingConfigurationIdentifiers().isEmpty());
    }

    @Test
    void DeleteRoom() {
        CreateRoomResponse room = c.createRoom(r -> {});
        assertEquals(204, c.deleteRoom(r -> r.identifier(room.arn())).sdkHttpResponse().statusCode());
        notFound(room.id(), () -> c.getRoom(r -> r.identifier(room.arn())));
        notFound(room.id(), () -> c.deleteRoom(r -> r.identifier(room.arn())));
    }

    private static Set<String> ids(ListRoomsResponse result) {
        Set<String> ids = new HashSet<>();
        result.rooms().forEach(r -> ids.add(r.id()));
        return ids;
    }

    @Test
    void ListRooms() {
        CreateLoggingConfigurationResponse cfg = logging(c, unique("cfg"), s3());
        String name = unique("list");
        String uri = lambdaArn();
        CreateRoomResponse plain = room(CreateRoomRequest.builder().name(name).build());
        CreateRoomResponse all = room(CreateRoomRequest.builder().name(name).messageReviewHandler(h -> h.uri(uri))
                .loggingConfigurationIdentifiers(cfg.arn()).tags(Map.of("t", "1")).build());
        assertEquals(Set.of(plain.id(), all.id()), ids(c.listRooms(r -> r.name(name))));
        ListRoomsResponse byUri = c.listRooms(r -> r.messageReviewHandlerUri(uri));
        assertEquals(Set.of(all.id()), ids(byUri));
        assertEquals(Set.of(all.id()), ids(c.listRooms(r -> r.loggingConfigurationIdentifier(cfg.arn()))));
        assertEquals(Set.of(plain.id()), ids(c.listRooms(r -> r.name(name).messageReviewHandlerUri(""))));
        RoomSummary s = byUri.rooms().get(0);
        assertEquals(all.arn(), s.arn());
        assertEquals(name, s.name());
        assertEquals(Map.of("t", "1"), s.tags());
        assertEquals(uri, s.messageReviewHandler().uri());
        assertEquals(List.of(cfg.arn()), s.loggingConfigurationIdentifiers());
        assertEquals(all.createTime(), s.createTime());
        assertEquals(all.updateTime(), s.updateTime());
    }

    @Test
    void ListRooms_pagination() {
        String name = unique("page");
        List<String> created = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            created.add(0, room(CreateRoomRequest.builder().name(name).build()).id()); // newest first
        }
        List<String> seen = new ArrayList<>();
        int pages = 0;
        for (ListRoomsResponse page : c.listRoomsPaginator(r -> r.name(name).maxResults(2))) {
            assertTrue(page.rooms().size() <= 2);
            page.rooms().forEach(r -> seen.add(r.id()));
            pages++;
        }
        assertEquals(3, pages);
        assertEquals(created, seen);
        fails(ValidationException.class, 400, () -> c.listRooms(r -> r.nextToken("not-a-token")));
    }

    // ------------------------------------------------------------------------------ logging

    @Test
    void CreateLoggingConfiguration() {
        for (Map.Entry<String, DestinationConfiguration> d : destinations().entrySet()) {
            Instant before = Instant.now();
            CreateLoggingConfigurationResponse cfg = c.createLoggingConfiguration(r -> r.name(unique(d.getKey()))
                    .destinationConfiguration(d.getValue()).tags(Map.of("kind", d.getKey())));
            afterTest(() -> c.deleteLoggingConfiguration(r -> r.identifier(cfg.arn())));
            matches(LOGGING_ARN, cfg.arn(), "arn");
            matches(ID, cfg.id(), "id");
            assertEquals(CreateLoggingConfigurationState.ACTIVE, cfg.state());
            assertEquals(Map.of("kind", d.getKey()), cfg.tags());
            assertEquals(d.getValue(), cfg.destinationConfiguration());
            near(cfg.createTime(), before, "createTime");
        }
    }

    @Test
    void GetLoggingConfiguration() {
        for (Map.Entry<String, DestinationConfiguration> d : destinations().entrySet()) {
            CreateLoggingConfigurationResponse cfg = logging(c, unique(d.getKey()), d.getValue());
            GetLoggingConfigurationResponse got = c.getLoggingConfiguration(r -> r.identifier(cfg.arn()));
            assertEquals(cfg.id(), got.id());
            assertEquals(cfg.name(), got.name());
            assertEquals(LoggingConfigurationState.ACTIVE, got.state());
            assertEquals(cfg.createTime(), got.createTime());
            assertEquals(d.getValue(), got.destinationConfiguration());
        }
    }

    @Test
    void UpdateLoggingConfiguration() {
        CreateLoggingConfigurationResponse cfg = logging(c, unique("upd"), s3());
        String name = unique("renamed");
        DestinationConfiguration firehose = destinations().get("firehose");
        UpdateLoggingConfigurationResponse upd = c.updateLoggingConfiguration(r -> r.identifier(cfg.arn()).name(name)
                .destinationConfiguration(firehose));
        assertEquals(name, upd.name());
        assertEquals(UpdateLoggingConfigurationState.ACTIVE, upd.state());
        assertEquals(firehose, upd.destinationConfiguration());
        assertEquals(cfg.createTime(), upd.createTime());
        assertTrue(upd.updateTime().isAfter(cfg.updateTime()));
    }

    @Test
    void DeleteLoggingConfiguration() {
        CreateLoggingConfigurationResponse cfg = c.createLoggingConfiguration(r -> r.destinationConfiguration(s3()));
        assertEquals(204, c.deleteLoggingConfiguration(r -> r.identifier(cfg.arn())).sdkHttpResponse().statusCode());
        fails(ResourceNotFoundException.class, 404, () -> c.getLoggingConfiguration(r -> r.identifier(cfg.arn())));
    }

    @Test
    void ListLoggingConfigurations() {
        Set<String> mine = new HashSet<>();
        for (int i = 0; i < 3; i++) {
            mine.add(logging(c, unique("list"), s3()).id());
        }
        Map<String, Integer> seen = new HashMap<>();
        for (ListLoggingConfigurationsResponse page : c.listLoggingConfigurationsPaginator(r -> r.maxResults(1))) {
            assertTrue(page.loggingConfigurations().size() <= 1);
            for (LoggingConfigurationSummary s : page.loggingConfigurations()) {
                seen.merge(s.id(), 1, Integer::sum);
                assertEquals(LoggingConfigurationState.ACTIVE, s.state());
                assertNotNull(s.createTime());
            }
        }
        for (String id : mine) {
            assertEquals(1, seen.getOrDefault(id, 0), id);
        }
    }

    // ------------------------------------------------------------------------------ tags

    @Test
    void TagResource() {
        CreateRoomResponse room = room(CreateRoomRequest.builder().tags(Map.of("a", "1")).build());
        CreateLoggingConfigurationResponse cfg = logging(c, unique("tags"), s3());
        for (String arn : List.of(room.arn(), cfg.arn())) {
            c.tagResource(r -> r.resourceArn(arn).tags(Map.of("a", "2", "b", "x/y =+-.:_@")));
            Map<String, String> tags = c.listTagsForResource(r -> r.resourceArn(arn)).tags();
            assertEquals("2", tags.get("a"));
            assertEquals("x/y =+-.:_@", tags.get("b"));
        }
        fails(ResourceNotFoundException.class, 404, () -> c.tagResource(r -> r.resourceArn(UNKNOWN_ROOM_ARN).tags(Map.of("a", "b"))));
        Map<String, String> many = new HashMap<>();
        for (int i = 0; i < 51; i++) {
            many.put("k" + i, "v");
        }
        fails(ValidationException.class, 400, () -> c.tagResource(r -> r.resourceArn(room.arn()).tags(many)));
    }

    @Test
    void UntagResource() {
        CreateRoomResponse room = room(CreateRoomRequest.builder().tags(Map.of("a", "1", "b", "2", "c", "3")).build());
        c.untagResource(r -> r.resourceArn(room.arn()).tagKeys("a", "c", "absent"));
        assertEquals(Map.of("b", "2"), c.listTagsForResource(r -> r.resourceArn(room.arn())).tags());
    }

    @Test
    void ListTagsForResource() {
        CreateRoomResponse room = room();
        assertEquals(Map.of(), c.listTagsForResource(r -> r.resourceArn(room.arn())).tags());
        CreateLoggingConfigurationResponse cfg = logging(c, unique("lt"), s3());
        c.tagResource(r -> r.resourceArn(cfg.arn()).tags(Map.of("x", "y")));
        assertEquals(Map.of("x", "y"), c.listTagsForResource(r -> r.resourceArn(cfg.arn())).tags());
    }

    // ------------------------------------------------------------------------------ messaging

    @Test
    void CreateChatToken() {
        CreateRoomResponse room = room();
        Instant before = Instant.now();
        CreateChatTokenResponse tok = c.createChatToken(r -> r.roomIdentifier(room.arn()).userId("user-1"));
        matches(TOKEN, tok.token(), "token");
        near(tok.tokenExpirationTime(), before.plusSeconds(60), "tokenExpirationTime");
        near(tok.sessionExpirationTime(), before.plusSeconds(3600), "sessionExpirationTime");
        CreateChatTokenResponse full = c.createChatToken(r -> r.roomIdentifier(room.arn()).userId("ünïcode user ✓")
                .capabilities(ChatTokenCapability.SEND_MESSAGE, ChatTokenCapability.DISCONNECT_USER, ChatTokenCapability.DELETE_MESSAGE)
                .sessionDurationInMinutes(180).attributes(Map.of("displayName", "Java v2")));
        near(full.sessionExpirationTime(), before.plusSeconds(180 * 60), "sessionExpirationTime (180)");
        assertNotEquals(tok.token(), full.token());
        validation("sessionDurationInMinutes",
                () -> c.createChatToken(r -> r.roomIdentifier(room.arn()).userId("u").sessionDurationInMinutes(181)));
        notFound(UNKNOWN_ROOM_ID, () -> c.createChatToken(r -> r.roomIdentifier(UNKNOWN_ROOM_ARN).userId("u")));
    }

    @Test
    void SendEvent() {
        CreateRoomResponse room = room();
        SendEventResponse sent = c.sendEvent(r -> r.roomIdentifier(room.arn()).eventName("app:poll").attributes(Map.of("q", "?")));
        matches(ID, sent.id(), "id");
        assertNotEquals(sent.id(), c.sendEvent(r -> r.roomIdentifier(room.arn()).eventName("e")).id());
    }

    @Test
    void DeleteMessage() {
        CreateRoomResponse room = room();
        SendEventResponse sent = c.sendEvent(r -> r.roomIdentifier(room.arn()).eventName("x"));
        DeleteMessageResponse del = c.deleteMessage(r -> r.roomIdentifier(room.arn()).id(sent.id()).reason("spam"));
        matches(ID, del.id(), "id");
        assertNotEquals(sent.id(), del.id());
        validation("id", () -> c.deleteMessage(r -> r.roomIdentifier(room.arn()).id("short")));
    }

    @Test
    void DisconnectUser() {
        CreateRoomResponse room = room();
        assertEquals(200, c.disconnectUser(r -> r.roomIdentifier(room.arn()).userId("nobody").reason("bye"))
                .sdkHttpResponse().statusCode());
        notFound(UNKNOWN_ROOM_ID, () -> c.disconnectUser(r -> r.roomIdentifier(UNKNOWN_ROOM_ARN).userId("u")));
    }

    // ------------------------------------------------------------------------------ errors

    @Test
    void ValidationException() {
        validation("maximumMessageLength", () -> c.createRoom(r -> r.maximumMessageLength(0)));
        validation("messageReviewHandler/uri", () -> c.createRoom(r -> r.messageReviewHandler(h -> h.uri("not-a-lambda"))));
        Executable both = () -> c.createRoom(r -> r.maximumMessageLength(0).maximumMessageRatePerSecond(0));
        validation("maximumMessageLength", both);
        validation("maximumMessageRatePerSecond", both);
        validation("identifier", () -> c.getRoom(r -> r.identifier("not-an-arn")));
    }

    @Test
    void ResourceNotFoundException() {
        notFound(UNKNOWN_ROOM_ID, () -> c.getRoom(r -> r.identifier(UNKNOWN_ROOM_ARN)));
        notFound(UNKNOWN_ROOM_ID, () -> c.updateRoom(r -> r.identifier(UNKNOWN_ROOM_ARN).maximumMessageLength(5)));
        notFound(UNKNOWN_ROOM_ID, () -> c.sendEvent(r -> r.roomIdentifier(UNKNOWN_ROOM_ARN).eventName("e")));
    }

    @Test
    void ConflictException() {
        CreateLoggingConfigurationResponse cfg = logging(c, unique("conflict"), s3());
        CreateRoomResponse room = room(CreateRoomRequest.builder().loggingConfigurationIdentifiers(cfg.arn()).build());
        fails(ConflictException.class, 409, () -> c.deleteLoggingConfiguration(r -> r.identifier(cfg.arn())));
        c.updateRoom(r -> r.identifier(room.arn()).loggingConfigurationIdentifiers(List.of()));
        c.deleteLoggingConfiguration(r -> r.identifier(cfg.arn()));
    }

    /** On the second server, whose logging configurations only these suites make. */
    @Test
    void ServiceQuotaExceededException() {
        IvschatClient slow = client(slowEndpoint(), "test", "test");
        int existing = slow.listLoggingConfigurations(r -> r.maxResults(50)).loggingConfigurations().size();
        for (int i = existing; i < QUOTA; i++) {
            logging(slow, unique("quota"), s3());
        }
        ServiceQuotaExceededException e = fails(ServiceQuotaExceededException.class, 402,
                () -> slow.createLoggingConfiguration(r -> r.destinationConfiguration(s3())));
        assertEquals(QUOTA, e.limit());
    }

    @Test
    void ThrottlingException() {
        IvschatClient slow = client(slowEndpoint(), "test", "test");
        CreateRoomResponse room = slow.createRoom(r -> {});
        afterTest(() -> slow.deleteRoom(r -> r.identifier(room.arn())));
        ThrottlingException e = fails(ThrottlingException.class, 429, () -> {
            for (int i = 0; i < 5; i++) {
                slow.sendEvent(r -> r.roomIdentifier(room.arn()).eventName("burst"));
            }
        });
        assertEquals(1, e.limit());
        assertEquals(ResourceType.ROOM, e.resourceType());
    }

    @Test
    void AuthErrors() {
        IvschatClient wrongSecret = client(endpoint(), "test", "not-the-secret");
        IvschatException e = fails(IvschatException.class, 403, () -> wrongSecret.listRooms(r -> {}));
        assertEquals("InvalidSignatureException", e.awsErrorDetails().errorCode());
        e = fails(IvschatException.class, 403, () -> wrongSecret.listTagsForResource(r -> r.resourceArn(UNKNOWN_ROOM_ARN)));
        assertEquals("InvalidSignatureException", e.awsErrorDetails().errorCode());
        IvschatClient unknown = client(endpoint(), "AKIDNOTKNOWN0000", "whatever");
        e = fails(IvschatException.class, 403, () -> unknown.createRoom(r -> {}));
        assertEquals("UnrecognizedClientException", e.awsErrorDetails().errorCode());
    }
}
