package compat;

import static compat.Fixtures.*;
import static org.junit.jupiter.api.Assertions.*;

import com.amazonaws.AmazonServiceException;
import com.amazonaws.ClientConfiguration;
import com.amazonaws.auth.AWSStaticCredentialsProvider;
import com.amazonaws.auth.BasicAWSCredentials;
import com.amazonaws.client.builder.AwsClientBuilder.EndpointConfiguration;
import com.amazonaws.services.ivschat.Amazonivschat;
import com.amazonaws.services.ivschat.AmazonivschatClientBuilder;
import com.amazonaws.services.ivschat.model.*;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * The AWS SDK for Java v1 ({@code AmazonivschatClient}) against a running ivschat-server: one
 * test per scenario of tests/compat/matrix/scenarios.toml (the method's name is the scenario
 * id), each asserting on what the SDK parsed. The endpoint is overridden the way v1 documents
 * it, with {@code AwsClientBuilder.EndpointConfiguration}.
 */
class JavaV1Test extends CleansUp {
    static Amazonivschat client(String endpoint, String accessKey, String secret) {
        return AmazonivschatClientBuilder.standard()
                .withEndpointConfiguration(new EndpointConfiguration(endpoint, REGION))
                .withCredentials(new AWSStaticCredentialsProvider(new BasicAWSCredentials(accessKey, secret)))
                // No retries: every error is the server's first answer.
                .withClientConfiguration(new ClientConfiguration().withMaxErrorRetry(0))
                .build();
    }

    private final Amazonivschat c = client(endpoint(), "test", "test");

    private CreateRoomResult room(CreateRoomRequest request) {
        CreateRoomResult room = c.createRoom(request);
        afterTest(() -> c.deleteRoom(new DeleteRoomRequest().withIdentifier(room.getArn())));
        return room;
    }

    private CreateLoggingConfigurationResult logging(Amazonivschat client, String name, DestinationConfiguration dest) {
        CreateLoggingConfigurationResult cfg = client.createLoggingConfiguration(
                new CreateLoggingConfigurationRequest().withName(name).withDestinationConfiguration(dest));
        afterTest(() -> client.deleteLoggingConfiguration(
                new DeleteLoggingConfigurationRequest().withIdentifier(cfg.getArn())));
        return cfg;
    }

    private static DestinationConfiguration s3() {
        return new DestinationConfiguration().withS3(new S3DestinationConfiguration().withBucketName("java-v1-bucket"));
    }

    private static Map<String, DestinationConfiguration> destinations() {
        Map<String, DestinationConfiguration> all = new HashMap<>();
        all.put("s3", s3());
        all.put("cloudWatchLogs", new DestinationConfiguration().withCloudWatchLogs(
                new CloudWatchLogsDestinationConfiguration().withLogGroupName("/aws/ivschat/java-v1")));
        all.put("firehose", new DestinationConfiguration().withFirehose(
                new FirehoseDestinationConfiguration().withDeliveryStreamName("java-v1-stream")));
        return all;
    }

    private static Instant at(Date date) {
        assertNotNull(date, "timestamp missing");
        return date.toInstant();
    }

    /** The exception `call` throws, of `type`, with `status`. */
    private static <E extends AmazonServiceException> E fails(Class<E> type, int status, Executable call) {
        E e = assertThrows(type, call);
        assertEquals(status, e.getStatusCode(), e.toString());
        assertNotNull(e.getRequestId(), "request id");
        return e;
    }

    private static void notFound(String id, Executable call) {
        ResourceNotFoundException e = fails(ResourceNotFoundException.class, 404, call);
        assertEquals(id, e.getResourceId());
        assertEquals("ROOM", e.getResourceType());
        assertEquals("ResourceNotFoundException", e.getErrorCode());
    }

    private static void validation(String field, Executable call) {
        ValidationException e = fails(ValidationException.class, 400, call);
        assertEquals("FIELD_VALIDATION_FAILED", e.getReason());
        Set<String> names = new HashSet<>();
        for (ValidationExceptionField f : e.getFieldList()) {
            names.add(f.getName());
            assertFalse(f.getMessage() == null || f.getMessage().isEmpty(), "no message for " + f.getName());
        }
        // Names are JSON pointers to the member, as AWS sends them.
        assertTrue(names.contains("/" + field), names + " does not name " + field);
    }

    // ------------------------------------------------------------------------------ rooms

    @Test
    void CreateRoom() {
        Instant before = Instant.now();
        CreateRoomResult room = room(new CreateRoomRequest());
        matches(ROOM_ARN, room.getArn(), "arn");
        assertTrue(room.getArn().endsWith("/" + room.getId()));
        assertEquals("", room.getName());
        assertEquals(10, room.getMaximumMessageRatePerSecond());
        assertEquals(500, room.getMaximumMessageLength());
        assertNull(room.getMessageReviewHandler().getUri());
        assertEquals("ALLOW", room.getMessageReviewHandler().getFallbackResult());
        assertTrue(room.getTags().isEmpty());
        assertTrue(room.getLoggingConfigurationIdentifiers().isEmpty());
        near(at(room.getCreateTime()), before, "createTime");
        near(at(room.getUpdateTime()), before, "updateTime");

        CreateLoggingConfigurationResult cfg = logging(c, unique("cfg"), s3());
        String uri = lambdaArn();
        String name = unique("room");
        Map<String, String> tags = Map.of("team", "compat", "empty", "");
        CreateRoomResult full = room(new CreateRoomRequest().withName(name).withMaximumMessageRatePerSecond(42)
                .withMaximumMessageLength(123)
                .withMessageReviewHandler(new MessageReviewHandler().withUri(uri).withFallbackResult("DENY"))
                .withTags(tags).withLoggingConfigurationIdentifiers(cfg.getArn()));
        assertEquals(name, full.getName());
        assertEquals(42, full.getMaximumMessageRatePerSecond());
        assertEquals(123, full.getMaximumMessageLength());
        assertEquals(uri, full.getMessageReviewHandler().getUri());
        assertEquals("DENY", full.getMessageReviewHandler().getFallbackResult());
        assertEquals(tags, full.getTags());
        assertEquals(List.of(cfg.getArn()), full.getLoggingConfigurationIdentifiers());

        CreateRoomResult only = room(new CreateRoomRequest().withMessageReviewHandler(new MessageReviewHandler().withUri(uri)));
        assertEquals("ALLOW", only.getMessageReviewHandler().getFallbackResult());
    }

    @Test
    void GetRoom() {
        CreateRoomResult room = room(new CreateRoomRequest().withName(unique("get")).withTags(Map.of("k", "v")));
        GetRoomResult got = c.getRoom(new GetRoomRequest().withIdentifier(room.getArn()));
        assertEquals(room.getArn(), got.getArn());
        assertEquals(room.getId(), got.getId());
        assertEquals(room.getName(), got.getName());
        assertEquals(room.getCreateTime(), got.getCreateTime());
        assertEquals(room.getUpdateTime(), got.getUpdateTime());
        assertEquals(500, got.getMaximumMessageLength());
        assertEquals(Map.of("k", "v"), got.getTags());
    }

    @Test
    void UpdateRoom() {
        CreateLoggingConfigurationResult cfg = logging(c, unique("cfg"), s3());
        String uri = lambdaArn();
        CreateRoomResult room = room(new CreateRoomRequest().withName(unique("upd")).withMaximumMessageRatePerSecond(7)
                .withMaximumMessageLength(77)
                .withMessageReviewHandler(new MessageReviewHandler().withUri(uri).withFallbackResult("DENY"))
                .withLoggingConfigurationIdentifiers(cfg.getArn()));
        UpdateRoomResult upd = c.updateRoom(new UpdateRoomRequest().withIdentifier(room.getArn()).withMaximumMessageLength(99));
        assertEquals(99, upd.getMaximumMessageLength());
        assertEquals(7, upd.getMaximumMessageRatePerSecond());
        assertEquals(room.getName(), upd.getName());
        assertEquals(uri, upd.getMessageReviewHandler().getUri());
        assertEquals(List.of(cfg.getArn()), upd.getLoggingConfigurationIdentifiers());
        assertEquals(room.getCreateTime(), upd.getCreateTime());
        assertTrue(upd.getUpdateTime().after(room.getUpdateTime()), upd.getUpdateTime() + " not after " + room.getUpdateTime());

        // An empty URI removes the handler; an empty list detaches every logging configuration.
        UpdateRoomResult cleared = c.updateRoom(new UpdateRoomRequest().withIdentifier(room.getArn())
                .withMessageReviewHandler(new MessageReviewHandler().withUri(""))
                .withLoggingConfigurationIdentifiers(new ArrayList<>()));
        assertTrue(cleared.getMessageReviewHandler() == null || cleared.getMessageReviewHandler().getUri() == null
                || cleared.getMessageReviewHandler().getUri().isEmpty(), String.valueOf(cleared.getMessageReviewHandler()));
        assertTrue(cleared.getLoggingConfigurationIdentifiers().isEmpty());
    }

    @Test
    void DeleteRoom() {
        CreateRoomResult room = c.createRoom(new CreateRoomRequest());
        assertNotNull(c.deleteRoom(new DeleteRoomRequest().withIdentifier(room.getArn())));
        notFound(room.getId(), () -> c.getRoom(new GetRoomRequest().withIdentifier(room.getArn())));
        notFound(room.getId(), () -> c.deleteRoom(new DeleteRoomRequest().withIdentifier(room.getArn())));
    }

    private static Set<String> ids(ListRoomsResult result) {
        Set<String> ids = new HashSet<>();
        result.getRooms().forEach(r -> ids.add(r.getId()));
        return ids;
    }

    @Test
    void ListRooms() {
        CreateLoggingConfigurationResult cfg = logging(c, unique("cfg"), s3());
        String name = unique("list");
        String uri = lambdaArn();
        CreateRoomResult plain = room(new CreateRoomRequest().withName(name));
        CreateRoomResult all = room(new CreateRoomRequest().withName(name)
                .withMessageReviewHandler(new MessageReviewHandler().withUri(uri))
                .withLoggingConfigurationIdentifiers(cfg.getArn()).withTags(Map.of("t", "1")));
        assertEquals(Set.of(plain.getId(), all.getId()), ids(c.listRooms(new ListRoomsRequest().withName(name))));
        ListRoomsResult byUri = c.listRooms(new ListRoomsRequest().withMessageReviewHandlerUri(uri));
        assertEquals(Set.of(all.getId()), ids(byUri));
        assertEquals(Set.of(all.getId()), ids(c.listRooms(new ListRoomsRequest().withLoggingConfigurationIdentifier(cfg.getArn()))));
        assertEquals(Set.of(plain.getId()),
                ids(c.listRooms(new ListRoomsRequest().withName(name).withMessageReviewHandlerUri(""))));
        RoomSummary s = byUri.getRooms().get(0);
        assertEquals(all.getArn(), s.getArn());
        assertEquals(name, s.getName());
        assertEquals(Map.of("t", "1"), s.getTags());
        assertEquals(uri, s.getMessageReviewHandler().getUri());
        assertEquals(List.of(cfg.getArn()), s.getLoggingConfigurationIdentifiers());
        assertEquals(all.getCreateTime(), s.getCreateTime());
        assertEquals(all.getUpdateTime(), s.getUpdateTime());
    }

    @Test
    void ListRooms_pagination() {
        String name = unique("page");
        List<String> created = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            created.add(0, room(new CreateRoomRequest().withName(name)).getId()); // newest first
        }
        List<String> seen = new ArrayList<>();
        String token = null;
        int pages = 0;
        do {
            ListRoomsResult page = c.listRooms(new ListRoomsRequest().withName(name).withMaxResults(2).withNextToken(token));
            assertTrue(page.getRooms().size() <= 2);
            page.getRooms().forEach(r -> seen.add(r.getId()));
            token = page.getNextToken();
            pages++;
        } while (token != null);
        assertEquals(3, pages);
        assertEquals(created, seen);
        fails(ValidationException.class, 400, () -> c.listRooms(new ListRoomsRequest().withNextToken("not-a-token")));
    }

    // ------------------------------------------------------------------------------ logging

    @Test
    void CreateLoggingConfiguration() {
        for (Map.Entry<String, DestinationConfiguration> d : destinations().entrySet()) {
            Instant before = Instant.now();
            CreateLoggingConfigurationResult cfg = c.createLoggingConfiguration(new CreateLoggingConfigurationRequest()
                    .withName(unique(d.getKey())).withDestinationConfiguration(d.getValue()).withTags(Map.of("kind", d.getKey())));
            afterTest(() -> c.deleteLoggingConfiguration(new DeleteLoggingConfigurationRequest().withIdentifier(cfg.getArn())));
            matches(LOGGING_ARN, cfg.getArn(), "arn");
            matches(ID, cfg.getId(), "id");
            assertEquals("ACTIVE", cfg.getState());
            assertEquals(Map.of("kind", d.getKey()), cfg.getTags());
            assertEquals(d.getValue(), cfg.getDestinationConfiguration());
            near(at(cfg.getCreateTime()), before, "createTime");
        }
    }

    @Test
    void GetLoggingConfiguration() {
        for (Map.Entry<String, DestinationConfiguration> d : destinations().entrySet()) {
            CreateLoggingConfigurationResult cfg = logging(c, unique(d.getKey()), d.getValue());
            GetLoggingConfigurationResult got = c.getLoggingConfiguration(new GetLoggingConfigurationRequest().withIdentifier(cfg.getArn()));
            assertEquals(cfg.getId(), got.getId());
            assertEquals(cfg.getName(), got.getName());
            assertEquals("ACTIVE", got.getState());
            assertEquals(cfg.getCreateTime(), got.getCreateTime());
            assertEquals(d.getValue(), got.getDestinationConfiguration());
        }
    }

    @Test
    void UpdateLoggingConfiguration() {
        CreateLoggingConfigurationResult cfg = logging(c, unique("upd"), s3());
        String name = unique("renamed");
        DestinationConfiguration firehose = destinations().get("firehose");
        UpdateLoggingConfigurationResult upd = c.updateLoggingConfiguration(new UpdateLoggingConfigurationRequest()
                .withIdentifier(cfg.getArn()).withName(name).withDestinationConfiguration(firehose));
        assertEquals(name, upd.getName());
        assertEquals("ACTIVE", upd.getState());
        assertEquals(firehose, upd.getDestinationConfiguration());
        assertEquals(cfg.getCreateTime(), upd.getCreateTime());
        assertTrue(upd.getUpdateTime().after(cfg.getUpdateTime()));
    }

    @Test
    void DeleteLoggingConfiguration() {
        CreateLoggingConfigurationResult cfg = c.createLoggingConfiguration(new CreateLoggingConfigurationRequest().withDestinationConfiguration(s3()));
        assertNotNull(c.deleteLoggingConfiguration(new DeleteLoggingConfigurationRequest().withIdentifier(cfg.getArn())));
        fails(ResourceNotFoundException.class, 404,
                () -> c.getLoggingConfiguration(new GetLoggingConfigurationRequest().withIdentifier(cfg.getArn())));
    }

    @Test
    void ListLoggingConfigurations() {
        Set<String> mine = new HashSet<>();
        for (int i = 0; i < 3; i++) {
            mine.add(logging(c, unique("list"), s3()).getId());
        }
        Map<String, Integer> seen = new HashMap<>();
        String token = null;
        do {
            ListLoggingConfigurationsResult page = c.listLoggingConfigurations(
                    new ListLoggingConfigurationsRequest().withMaxResults(1).withNextToken(token));
            assertTrue(page.getLoggingConfigurations().size() <= 1);
            for (LoggingConfigurationSummary s : page.getLoggingConfigurations()) {
                seen.merge(s.getId(), 1, Integer::sum);
                assertEquals("ACTIVE", s.getState());
                assertNotNull(s.getCreateTime());
            }
            token = page.getNextToken();
        } while (token != null);
        for (String id : mine) {
            assertEquals(1, seen.getOrDefault(id, 0), id);
        }
    }

    // ------------------------------------------------------------------------------ tags

    @Test
    void TagResource() {
        CreateRoomResult room = room(new CreateRoomRequest().withTags(Map.of("a", "1")));
        CreateLoggingConfigurationResult cfg = logging(c, unique("tags"), s3());
        for (String arn : List.of(room.getArn(), cfg.getArn())) {
            c.tagResource(new TagResourceRequest().withResourceArn(arn).withTags(Map.of("a", "2", "b", "x/y =+-.:_@")));
            Map<String, String> tags = c.listTagsForResource(new ListTagsForResourceRequest().withResourceArn(arn)).getTags();
            assertEquals("2", tags.get("a"));
            assertEquals("x/y =+-.:_@", tags.get("b"));
        }
        fails(ResourceNotFoundException.class, 404,
                () -> c.tagResource(new TagResourceRequest().withResourceArn(UNKNOWN_ROOM_ARN).withTags(Map.of("a", "b"))));
        Map<String, String> many = new HashMap<>();
        for (int i = 0; i < 51; i++) {
            many.put("k" + i, "v");
        }
        fails(ValidationException.class, 400, () -> c.tagResource(new TagResourceRequest().withResourceArn(room.getArn()).withTags(many)));
    }

    @Test
    void UntagResource() {
        CreateRoomResult room = room(new CreateRoomRequest().withTags(Map.of("a", "1", "b", "2", "c", "3")));
        c.untagResource(new UntagResourceRequest().withResourceArn(room.getArn()).withTagKeys("a", "c", "absent"));
        assertEquals(Map.of("b", "2"), c.listTagsForResource(new ListTagsForResourceRequest().withResourceArn(room.getArn())).getTags());
    }

    @Test
    void ListTagsForResource() {
        CreateRoomResult room = room(new CreateRoomRequest());
        assertEquals(Map.of(), c.listTagsForResource(new ListTagsForResourceRequest().withResourceArn(room.getArn())).getTags());
        CreateLoggingConfigurationResult cfg = logging(c, unique("lt"), s3());
        c.tagResource(new TagResourceRequest().withResourceArn(cfg.getArn()).withTags(Map.of("x", "y")));
        assertEquals(Map.of("x", "y"), c.listTagsForResource(new ListTagsForResourceRequest().withResourceArn(cfg.getArn())).getTags());
    }

    // ------------------------------------------------------------------------------ messaging

    @Test
    void CreateChatToken() {
        CreateRoomResult room = room(new CreateRoomRequest());
        Instant before = Instant.now();
        CreateChatTokenResult tok = c.createChatToken(new CreateChatTokenRequest().withRoomIdentifier(room.getArn()).withUserId("user-1"));
        matches(TOKEN, tok.getToken(), "token");
        near(at(tok.getTokenExpirationTime()), before.plusSeconds(60), "tokenExpirationTime");
        near(at(tok.getSessionExpirationTime()), before.plusSeconds(3600), "sessionExpirationTime");
        CreateChatTokenResult full = c.createChatToken(new CreateChatTokenRequest().withRoomIdentifier(room.getArn())
                .withUserId("ünïcode user ✓").withCapabilities("SEND_MESSAGE", "DISCONNECT_USER", "DELETE_MESSAGE")
                .withSessionDurationInMinutes(180).withAttributes(Map.of("displayName", "Java v1")));
        near(at(full.getSessionExpirationTime()), before.plusSeconds(180 * 60), "sessionExpirationTime (180)");
        assertNotEquals(tok.getToken(), full.getToken());
        validation("sessionDurationInMinutes", () -> c.createChatToken(new CreateChatTokenRequest()
                .withRoomIdentifier(room.getArn()).withUserId("u").withSessionDurationInMinutes(181)));
        notFound(UNKNOWN_ROOM_ID, () -> c.createChatToken(new CreateChatTokenRequest().withRoomIdentifier(UNKNOWN_ROOM_ARN).withUserId("u")));
    }

    @Test
    void SendEvent() {
        CreateRoomResult room = room(new CreateRoomRequest());
        SendEventResult sent = c.sendEvent(new SendEventRequest().withRoomIdentifier(room.getArn()).withEventName("app:poll")
                .withAttributes(Map.of("q", "?")));
        matches(ID, sent.getId(), "id");
        SendEventResult again = c.sendEvent(new SendEventRequest().withRoomIdentifier(room.getArn()).withEventName("e"));
        assertNotEquals(sent.getId(), again.getId());
    }

    @Test
    void DeleteMessage() {
        CreateRoomResult room = room(new CreateRoomRequest());
        SendEventResult sent = c.sendEvent(new SendEventRequest().withRoomIdentifier(room.getArn()).withEventName("x"));
        DeleteMessageResult del = c.deleteMessage(new DeleteMessageRequest().withRoomIdentifier(room.getArn()).withId(sent.getId()).withReason("spam"));
        matches(ID, del.getId(), "id");
        assertNotEquals(sent.getId(), del.getId());
        validation("id", () -> c.deleteMessage(new DeleteMessageRequest().withRoomIdentifier(room.getArn()).withId("short")));
    }

    @Test
    void DisconnectUser() {
        CreateRoomResult room = room(new CreateRoomRequest());
        assertNotNull(c.disconnectUser(new DisconnectUserRequest().withRoomIdentifier(room.getArn()).withUserId("nobody").withReason("bye")));
        notFound(UNKNOWN_ROOM_ID, () -> c.disconnectUser(new DisconnectUserRequest().withRoomIdentifier(UNKNOWN_ROOM_ARN).withUserId("u")));
    }

    // ------------------------------------------------------------------------------ errors

    @Test
    void ValidationException() {
        validation("maximumMessageLength", () -> c.createRoom(new CreateRoomRequest().withMaximumMessageLength(0)));
        validation("messageReviewHandler/uri", () -> c.createRoom(new CreateRoomRequest()
                .withMessageReviewHandler(new MessageReviewHandler().withUri("not-a-lambda"))));
        Executable both = () -> c.createRoom(new CreateRoomRequest().withMaximumMessageLength(0).withMaximumMessageRatePerSecond(0));
        validation("maximumMessageLength", both);
        validation("maximumMessageRatePerSecond", both);
        validation("identifier", () -> c.getRoom(new GetRoomRequest().withIdentifier("not-an-arn")));
    }

    @Test
    void ResourceNotFoundException() {
        notFound(UNKNOWN_ROOM_ID, () -> c.getRoom(new GetRoomRequest().withIdentifier(UNKNOWN_ROOM_ARN)));
        notFound(UNKNOWN_ROOM_ID, () -> c.updateRoom(new UpdateRoomRequest().withIdentifier(UNKNOWN_ROOM_ARN).withMaximumMessageLength(5)));
        notFound(UNKNOWN_ROOM_ID, () -> c.sendEvent(new SendEventRequest().withRoomIdentifier(UNKNOWN_ROOM_ARN).withEventName("e")));
    }

    @Test
    void ConflictException() {
        CreateLoggingConfigurationResult cfg = logging(c, unique("conflict"), s3());
        CreateRoomResult room = room(new CreateRoomRequest().withLoggingConfigurationIdentifiers(cfg.getArn()));
        fails(ConflictException.class, 409,
                () -> c.deleteLoggingConfiguration(new DeleteLoggingConfigurationRequest().withIdentifier(cfg.getArn())));
        c.updateRoom(new UpdateRoomRequest().withIdentifier(room.getArn()).withLoggingConfigurationIdentifiers(new ArrayList<>()));
        c.deleteLoggingConfiguration(new DeleteLoggingConfigurationRequest().withIdentifier(cfg.getArn()));
    }

    /** On the second server, whose logging configurations only these suites make. */
    @Test
    void ServiceQuotaExceededException() {
        Amazonivschat slow = client(slowEndpoint(), "test", "test");
        int existing = slow.listLoggingConfigurations(new ListLoggingConfigurationsRequest().withMaxResults(50))
                .getLoggingConfigurations().size();
        for (int i = existing; i < QUOTA; i++) {
            logging(slow, unique("quota"), s3());
        }
        ServiceQuotaExceededException e = fails(ServiceQuotaExceededException.class, 402,
                () -> slow.createLoggingConfiguration(new CreateLoggingConfigurationRequest().withDestinationConfiguration(s3())));
        assertEquals(QUOTA, e.getLimit());
    }

    @Test
    void ThrottlingException() {
        Amazonivschat slow = client(slowEndpoint(), "test", "test");
        CreateRoomResult room = slow.createRoom(new CreateRoomRequest());
        afterTest(() -> slow.deleteRoom(new DeleteRoomRequest().withIdentifier(room.getArn())));
        ThrottlingException e = fails(ThrottlingException.class, 429, () -> {
            for (int i = 0; i < 5; i++) {
                slow.sendEvent(new SendEventRequest().withRoomIdentifier(room.getArn()).withEventName("burst"));
            }
        });
        assertEquals(1, e.getLimit());
        assertEquals("ROOM", e.getResourceType());
    }

    @Test
    void AuthErrors() {
        Amazonivschat wrongSecret = client(endpoint(), "test", "not-the-secret");
        AmazonivschatException e = fails(AmazonivschatException.class, 403, () -> wrongSecret.listRooms(new ListRoomsRequest()));
        assertEquals("InvalidSignatureException", e.getErrorCode());
        e = fails(AmazonivschatException.class, 403,
                () -> wrongSecret.listTagsForResource(new ListTagsForResourceRequest().withResourceArn(UNKNOWN_ROOM_ARN)));
        assertEquals("InvalidSignatureException", e.getErrorCode());
        Amazonivschat unknown = client(endpoint(), "AKIDNOTKNOWN0000", "whatever");
        e = fails(AmazonivschatException.class, 403, () -> unknown.createRoom(new CreateRoomRequest()));
        assertEquals("UnrecognizedClientException", e.getErrorCode());
    }
}
