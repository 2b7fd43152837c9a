// The AWS SDK for Go v2 (github.com/aws/aws-sdk-go-v2/service/ivschat) against a running
// ivschat-server: one test per scenario of tests/compat/matrix/scenarios.toml (the test's
// name is the scenario id), each asserting on what the SDK parsed, not only on "no error".
//
// IVSCHAT_ENDPOINT names the shared server; IVSCHAT_SLOW_ENDPOINT a second one whose account
// SendEvent rate is 1 request/s (ThrottlingException) and whose logging-configuration quota
// this suite may fill (ServiceQuotaExceededException). tests/compat/run-go.sh sets both.
package compat

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ivschat"
	"github.com/aws/aws-sdk-go-v2/service/ivschat/types"
	"github.com/aws/smithy-go"
)

const (
	region  = "us-east-1"
	account = "000000000000"
	quota   = 10
)

var (
	idRE      = regexp.MustCompile(`^[A-Za-z0-9]{12}$`)
	roomARNRE = regexp.MustCompile(`^arn:aws:ivschat:us-east-1:000000000000:room/([A-Za-z0-9]{12})$`)
	logARNRE  = regexp.MustCompile(`^arn:aws:ivschat:us-east-1:000000000000:logging-configuration/([A-Za-z0-9]{12})$`)
	tokenRE   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

func endpointFrom(t *testing.T, name string) string {
	t.Helper()
	url := os.Getenv(name)
	if url == "" {
		t.Fatalf("%s is not set (run tests/compat/run-go.sh ENDPOINT_URL)", name)
	}
	return url
}

// client for the server at the endpoint in `envName`, without retries (every error is the
// server's first answer).
func clientWith(t *testing.T, envName, accessKey, secret string) *ivschat.Client {
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secret, ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	endpoint := endpointFrom(t, envName)
	return ivschat.NewFromConfig(cfg, func(o *ivschat.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	})
}

func client(t *testing.T) *ivschat.Client {
	return clientWith(t, "IVSCHAT_ENDPOINT", "test", "test")
}

var ctx = context.Background()

func unique(prefix string) string {
	return fmt.Sprintf("%s-go-%d-%d", prefix, time.Now().UnixNano(), rand.Intn(1_000_000))
}

func lambdaARN() string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, account, unique("review"))
}

// must(call(...))(t): the call's result, or the test fails with its error.
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

func check(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

// near: a parsed timestamp within 5 s of `want` (the server's clock is this machine's).
func near(t *testing.T, got *time.Time, want time.Time, what string) {
	t.Helper()
	check(t, got != nil, "%s missing", what)
	d := got.Sub(want)
	check(t, d > -5*time.Second && d < 5*time.Second, "%s = %v, want about %v", what, got, want)
}

func newRoom(t *testing.T, c *ivschat.Client, in *ivschat.CreateRoomInput) *ivschat.CreateRoomOutput {
	t.Helper()
	if in == nil {
		in = &ivschat.CreateRoomInput{}
	}
	room := must(c.CreateRoom(ctx, in))(t)
	t.Cleanup(func() { _, _ = c.DeleteRoom(ctx, &ivschat.DeleteRoomInput{Identifier: room.Arn}) })
	return room
}

func newLogging(t *testing.T, c *ivschat.Client, name string, dest types.DestinationConfiguration) *ivschat.CreateLoggingConfigurationOutput {
	t.Helper()
	if dest == nil {
		dest = &types.DestinationConfigurationMemberS3{Value: types.S3DestinationConfiguration{BucketName: aws.String("go-compat-bucket")}}
	}
	cfg := must(c.CreateLoggingConfiguration(ctx, &ivschat.CreateLoggingConfigurationInput{
		Name: aws.String(name), DestinationConfiguration: dest,
	}))(t)
	t.Cleanup(func() {
		_, _ = c.DeleteLoggingConfiguration(ctx, &ivschat.DeleteLoggingConfigurationInput{Identifier: cfg.Arn})
	})
	return cfg
}

func unknownRoomARN() string {
	return fmt.Sprintf("arn:aws:ivschat:%s:%s:room/ZZZZZZZZZZZZ", region, account)
}

// apiError: the error's code as the SDK mapped it, and the HTTP status.
func apiError(t *testing.T, err error) (string, int) {
	t.Helper()
	check(t, err != nil, "expected an error, got success")
	var api smithy.APIError
	check(t, errors.As(err, &api), "not an API error: %v", err)
	var resp *awshttp.ResponseError
	check(t, errors.As(err, &resp), "no HTTP response in %v", err)
	return api.ErrorCode(), resp.HTTPStatusCode()
}

func notFound(t *testing.T, err error, id string) {
	t.Helper()
	var nf *types.ResourceNotFoundException
	check(t, errors.As(err, &nf), "want ResourceNotFoundException, got %v", err)
	check(t, aws.ToString(nf.ResourceId) == id, "resourceId = %q, want %q", aws.ToString(nf.ResourceId), id)
	check(t, nf.ResourceType == types.ResourceTypeRoom, "resourceType = %q", nf.ResourceType)
	_, status := apiError(t, err)
	check(t, status == 404, "status %d", status)
}

func validation(t *testing.T, err error, field string) {
	t.Helper()
	var ve *types.ValidationException
	check(t, errors.As(err, &ve), "want ValidationException, got %v", err)
	check(t, ve.Reason == types.ValidationExceptionReasonFieldValidationFailed, "reason %q", ve.Reason)
	var names []string
	for _, f := range ve.FieldList {
		names = append(names, aws.ToString(f.Name))
		check(t, aws.ToString(f.Message) != "", "field %q without a message", aws.ToString(f.Name))
	}
	// Names are JSON pointers to the member ("/maximumMessageLength"), as AWS sends them.
	found := false
	for _, n := range names {
		found = found || n == "/"+field
	}
	check(t, found, "fieldList %v does not name %q", names, field)
	_, status := apiError(t, err)
	check(t, status == 400, "status %d", status)
}

// ----------------------------------------------------------------------------- rooms

func TestCreateRoom(t *testing.T) {
	c := client(t)
	before := time.Now()
	room := newRoom(t, c, nil)
	check(t, roomARNRE.MatchString(aws.ToString(room.Arn)), "arn %q", aws.ToString(room.Arn))
	check(t, roomARNRE.FindStringSubmatch(aws.ToString(room.Arn))[1] == aws.ToString(room.Id), "id %q not the ARN's", aws.ToString(room.Id))
	check(t, aws.ToString(room.Name) == "", "name %q", aws.ToString(room.Name))
	check(t, aws.ToInt32(room.MaximumMessageRatePerSecond) == 10, "rate %d", room.MaximumMessageRatePerSecond)
	check(t, aws.ToInt32(room.MaximumMessageLength) == 500, "length %d", room.MaximumMessageLength)
	check(t, room.MessageReviewHandler != nil && room.MessageReviewHandler.Uri == nil &&
		room.MessageReviewHandler.FallbackResult == types.FallbackResultAllow, "handler %+v", room.MessageReviewHandler)
	check(t, len(room.Tags) == 0 && len(room.LoggingConfigurationIdentifiers) == 0, "tags %v / logging %v", room.Tags, room.LoggingConfigurationIdentifiers)
	near(t, room.CreateTime, before, "createTime")
	near(t, room.UpdateTime, before, "updateTime")

	cfg := newLogging(t, c, unique("cfg"), nil)
	uri := lambdaARN()
	name := unique("room")
	full := newRoom(t, c, &ivschat.CreateRoomInput{
		Name: aws.String(name), MaximumMessageRatePerSecond: aws.Int32(42), MaximumMessageLength: aws.Int32(123),
		MessageReviewHandler:            &types.MessageReviewHandler{Uri: aws.String(uri), FallbackResult: types.FallbackResultDeny},
		Tags:                            map[string]string{"team": "compat", "empty": ""},
		LoggingConfigurationIdentifiers: []string{aws.ToString(cfg.Arn)},
	})
	check(t, aws.ToString(full.Name) == name && aws.ToInt32(full.MaximumMessageRatePerSecond) == 42 && aws.ToInt32(full.MaximumMessageLength) == 123, "%+v", full)
	check(t, aws.ToString(full.MessageReviewHandler.Uri) == uri && full.MessageReviewHandler.FallbackResult == types.FallbackResultDeny, "handler %+v", full.MessageReviewHandler)
	check(t, len(full.Tags) == 2 && full.Tags["team"] == "compat" && full.Tags["empty"] == "", "tags %v", full.Tags)
	check(t, len(full.LoggingConfigurationIdentifiers) == 1 && full.LoggingConfigurationIdentifiers[0] == aws.ToString(cfg.Arn), "logging %v", full.LoggingConfigurationIdentifiers)

	// A handler with only a URI gets fallbackResult ALLOW.
	only := newRoom(t, c, &ivschat.CreateRoomInput{MessageReviewHandler: &types.MessageReviewHandler{Uri: aws.String(uri)}})
	check(t, only.MessageReviewHandler.FallbackResult == types.FallbackResultAllow, "fallback %q", only.MessageReviewHandler.FallbackResult)
}

func TestGetRoom(t *testing.T) {
	c := client(t)
	room := newRoom(t, c, &ivschat.CreateRoomInput{Name: aws.String(unique("get")), Tags: map[string]string{"k": "v"}})
	got := must(c.GetRoom(ctx, &ivschat.GetRoomInput{Identifier: room.Arn}))(t)
	check(t, aws.ToString(got.Arn) == aws.ToString(room.Arn) && aws.ToString(got.Id) == aws.ToString(room.Id) &&
		aws.ToString(got.Name) == aws.ToString(room.Name), "%+v", got)
	check(t, got.CreateTime.Equal(*room.CreateTime) && got.UpdateTime.Equal(*room.UpdateTime), "times %v %v", got.CreateTime, got.UpdateTime)
	check(t, aws.ToInt32(got.MaximumMessageLength) == 500 && aws.ToInt32(got.MaximumMessageRatePerSecond) == 10 && got.Tags["k"] == "v", "%+v", got)
	// The identifier is the ARN: a bare id does not match the model's pattern.
	_, err := c.GetRoom(ctx, &ivschat.GetRoomInput{Identifier: room.Id})
	validation(t, err, "identifier")
}

func TestUpdateRoom(t *testing.T) {
	c := client(t)
	cfg := newLogging(t, c, unique("cfg"), nil)
	uri := lambdaARN()
	room := newRoom(t, c, &ivschat.CreateRoomInput{
		Name: aws.String(unique("upd")), MaximumMessageRatePerSecond: aws.Int32(7), MaximumMessageLength: aws.Int32(77),
		MessageReviewHandler:            &types.MessageReviewHandler{Uri: aws.String(uri), FallbackResult: types.FallbackResultDeny},
		LoggingConfigurationIdentifiers: []string{aws.ToString(cfg.Arn)},
	})
	upd := must(c.UpdateRoom(ctx, &ivschat.UpdateRoomInput{Identifier: room.Arn, MaximumMessageLength: aws.Int32(99)}))(t)
	check(t, aws.ToInt32(upd.MaximumMessageLength) == 99 && aws.ToInt32(upd.MaximumMessageRatePerSecond) == 7 && aws.ToString(upd.Name) == aws.ToString(room.Name), "%+v", upd)
	check(t, aws.ToString(upd.MessageReviewHandler.Uri) == uri && len(upd.LoggingConfigurationIdentifiers) == 1, "%+v", upd)
	check(t, upd.CreateTime.Equal(*room.CreateTime), "createTime moved")
	check(t, upd.UpdateTime.After(*room.UpdateTime), "updateTime %v not after %v", upd.UpdateTime, room.UpdateTime)

	// An empty URI removes the handler; an empty list detaches every logging configuration.
	cleared := must(c.UpdateRoom(ctx, &ivschat.UpdateRoomInput{
		Identifier: room.Arn, MessageReviewHandler: &types.MessageReviewHandler{Uri: aws.String("")},
		LoggingConfigurationIdentifiers: []string{},
	}))(t)
	check(t, cleared.MessageReviewHandler == nil || aws.ToString(cleared.MessageReviewHandler.Uri) == "", "handler %+v", cleared.MessageReviewHandler)
	check(t, len(cleared.LoggingConfigurationIdentifiers) == 0, "logging %v", cleared.LoggingConfigurationIdentifiers)
}

func TestDeleteRoom(t *testing.T) {
	c := client(t)
	room := must(c.CreateRoom(ctx, &ivschat.CreateRoomInput{}))(t)
	_, err := c.DeleteRoom(ctx, &ivschat.DeleteRoomInput{Identifier: room.Arn})
	check(t, err == nil, "delete: %v", err)
	_, err = c.GetRoom(ctx, &ivschat.GetRoomInput{Identifier: room.Arn})
	notFound(t, err, aws.ToString(room.Id))
	_, err = c.DeleteRoom(ctx, &ivschat.DeleteRoomInput{Identifier: room.Arn})
	notFound(t, err, aws.ToString(room.Id))
}

func TestListRooms(t *testing.T) {
	c := client(t)
	cfg := newLogging(t, c, unique("cfg"), nil)
	name := unique("list")
	uri := lambdaARN()
	plain := newRoom(t, c, &ivschat.CreateRoomInput{Name: aws.String(name)})
	withAll := newRoom(t, c, &ivschat.CreateRoomInput{
		Name: aws.String(name), MessageReviewHandler: &types.MessageReviewHandler{Uri: aws.String(uri)},
		LoggingConfigurationIdentifiers: []string{aws.ToString(cfg.Arn)}, Tags: map[string]string{"t": "1"},
	})
	ids := func(out *ivschat.ListRoomsOutput) []string {
		var s []string
		for _, r := range out.Rooms {
			s = append(s, aws.ToString(r.Id))
		}
		sort.Strings(s)
		return s
	}
	byName := must(c.ListRooms(ctx, &ivschat.ListRoomsInput{Name: aws.String(name)}))(t)
	want := []string{aws.ToString(plain.Id), aws.ToString(withAll.Id)}
	sort.Strings(want)
	check(t, fmt.Sprint(ids(byName)) == fmt.Sprint(want), "by name %v, want %v", ids(byName), want)
	byURI := must(c.ListRooms(ctx, &ivschat.ListRoomsInput{MessageReviewHandlerUri: aws.String(uri)}))(t)
	check(t, fmt.Sprint(ids(byURI)) == fmt.Sprint([]string{aws.ToString(withAll.Id)}), "by uri %v", ids(byURI))
	byCfg := must(c.ListRooms(ctx, &ivschat.ListRoomsInput{LoggingConfigurationIdentifier: cfg.Arn}))(t)
	check(t, fmt.Sprint(ids(byCfg)) == fmt.Sprint([]string{aws.ToString(withAll.Id)}), "by logging %v", ids(byCfg))
	combined := must(c.ListRooms(ctx, &ivschat.ListRoomsInput{Name: aws.String(name), MessageReviewHandlerUri: aws.String("")}))(t)
	check(t, fmt.Sprint(ids(combined)) == fmt.Sprint([]string{aws.ToString(plain.Id)}), "combined %v", ids(combined))
	// The summary's shape.
	s := byURI.Rooms[0]
	check(t, aws.ToString(s.Arn) == aws.ToString(withAll.Arn) && aws.ToString(s.Name) == name && s.Tags["t"] == "1", "%+v", s)
	check(t, aws.ToString(s.MessageReviewHandler.Uri) == uri && len(s.LoggingConfigurationIdentifiers) == 1, "%+v", s)
	check(t, s.CreateTime.Equal(*withAll.CreateTime) && s.UpdateTime.Equal(*withAll.UpdateTime), "times %v", s)
}

func TestListRooms_pagination(t *testing.T) {
	c := client(t)
	name := unique("page")
	var created []string
	for i := 0; i < 5; i++ {
		created = append(created, aws.ToString(newRoom(t, c, &ivschat.CreateRoomInput{Name: aws.String(name)}).Id))
	}
	var seen []string
	pages := 0
	p := ivschat.NewListRoomsPaginator(c, &ivschat.ListRoomsInput{Name: aws.String(name), MaxResults: aws.Int32(2)})
	var last *time.Time
	for p.HasMorePages() {
		page := must(p.NextPage(ctx))(t)
		pages++
		check(t, len(page.Rooms) <= 2, "page of %d", len(page.Rooms))
		for _, r := range page.Rooms {
			if last != nil {
				check(t, !r.UpdateTime.After(*last), "not newest first")
			}
			last = r.UpdateTime
			seen = append(seen, aws.ToString(r.Id))
		}
		if !p.HasMorePages() {
			check(t, page.NextToken == nil, "a token on the last page")
		}
	}
	check(t, pages == 3 && len(seen) == 5, "%d pages, %d rooms", pages, len(seen))
	// Newest first: the reverse of creation order.
	for i := range created {
		check(t, seen[i] == created[len(created)-1-i], "order %v vs created %v", seen, created)
	}
	_, err := c.ListRooms(ctx, &ivschat.ListRoomsInput{NextToken: aws.String("not-a-token")})
	code, status := apiError(t, err)
	check(t, code == "ValidationException" && status == 400, "%s %d", code, status)
}

// ----------------------------------------------------------------------------- logging

func destinations() map[string]types.DestinationConfiguration {
	return map[string]types.DestinationConfiguration{
		"s3":             &types.DestinationConfigurationMemberS3{Value: types.S3DestinationConfiguration{BucketName: aws.String("go-compat-bucket")}},
		"cloudWatchLogs": &types.DestinationConfigurationMemberCloudWatchLogs{Value: types.CloudWatchLogsDestinationConfiguration{LogGroupName: aws.String("/aws/ivschat/go-compat")}},
		"firehose":       &types.DestinationConfigurationMemberFirehose{Value: types.FirehoseDestinationConfiguration{DeliveryStreamName: aws.String("go-compat-stream")}},
	}
}

func sameDestination(t *testing.T, got, want types.DestinationConfiguration) {
	t.Helper()
	switch w := want.(type) {
	case *types.DestinationConfigurationMemberS3:
		g, ok := got.(*types.DestinationConfigurationMemberS3)
		check(t, ok && aws.ToString(g.Value.BucketName) == aws.ToString(w.Value.BucketName), "destination %#v", got)
	case *types.DestinationConfigurationMemberCloudWatchLogs:
		g, ok := got.(*types.DestinationConfigurationMemberCloudWatchLogs)
		check(t, ok && aws.ToString(g.Value.LogGroupName) == aws.ToString(w.Value.LogGroupName), "destination %#v", got)
	case *types.DestinationConfigurationMemberFirehose:
		g, ok := got.(*types.DestinationConfigurationMemberFirehose)
		check(t, ok && aws.ToString(g.Value.DeliveryStreamName) == aws.ToString(w.Value.DeliveryStreamName), "destination %#v", got)
	}
}

func TestCreateLoggingConfiguration(t *testing.T) {
	c := client(t)
	for kind, dest := range destinations() {
		before := time.Now()
		cfg := must(c.CreateLoggingConfiguration(ctx, &ivschat.CreateLoggingConfigurationInput{
			Name: aws.String(unique(kind)), DestinationConfiguration: dest, Tags: map[string]string{"kind": kind},
		}))(t)
		t.Cleanup(func() {
			_, _ = c.DeleteLoggingConfiguration(ctx, &ivschat.DeleteLoggingConfigurationInput{Identifier: cfg.Arn})
		})
		check(t, logARNRE.MatchString(aws.ToString(cfg.Arn)) && idRE.MatchString(aws.ToString(cfg.Id)), "%s: arn %q", kind, aws.ToString(cfg.Arn))
		check(t, cfg.State == types.CreateLoggingConfigurationStateActive, "%s: state %q", kind, cfg.State)
		check(t, cfg.Tags["kind"] == kind, "%s: tags %v", kind, cfg.Tags)
		sameDestination(t, cfg.DestinationConfiguration, dest)
		near(t, cfg.CreateTime, before, "createTime")
	}
}

func TestGetLoggingConfiguration(t *testing.T) {
	c := client(t)
	for kind, dest := range destinations() {
		cfg := newLogging(t, c, unique(kind), dest)
		got := must(c.GetLoggingConfiguration(ctx, &ivschat.GetLoggingConfigurationInput{Identifier: cfg.Arn}))(t)
		check(t, aws.ToString(got.Id) == aws.ToString(cfg.Id) && aws.ToString(got.Name) == aws.ToString(cfg.Name), "%+v", got)
		check(t, got.State == types.LoggingConfigurationStateActive, "state %q", got.State)
		check(t, got.CreateTime.Equal(*cfg.CreateTime) && got.UpdateTime.Equal(*cfg.UpdateTime), "times")
		sameDestination(t, got.DestinationConfiguration, dest)
	}
}

func TestUpdateLoggingConfiguration(t *testing.T) {
	c := client(t)
	cfg := newLogging(t, c, unique("upd"), nil)
	name := unique("renamed")
	fh := destinations()["firehose"]
	upd := must(c.UpdateLoggingConfiguration(ctx, &ivschat.UpdateLoggingConfigurationInput{
		Identifier: cfg.Arn, Name: aws.String(name), DestinationConfiguration: fh,
	}))(t)
	check(t, aws.ToString(upd.Name) == name && upd.State == types.UpdateLoggingConfigurationStateActive, "%+v", upd)
	sameDestination(t, upd.DestinationConfiguration, fh)
	check(t, upd.CreateTime.Equal(*cfg.CreateTime) && upd.UpdateTime.After(*cfg.UpdateTime), "times %v %v", upd.CreateTime, upd.UpdateTime)
}

func TestDeleteLoggingConfiguration(t *testing.T) {
	c := client(t)
	cfg := must(c.CreateLoggingConfiguration(ctx, &ivschat.CreateLoggingConfigurationInput{
		DestinationConfiguration: destinations()["s3"],
	}))(t)
	_, err := c.DeleteLoggingConfiguration(ctx, &ivschat.DeleteLoggingConfigurationInput{Identifier: cfg.Arn})
	check(t, err == nil, "delete: %v", err)
	_, err = c.GetLoggingConfiguration(ctx, &ivschat.GetLoggingConfigurationInput{Identifier: cfg.Arn})
	code, status := apiError(t, err)
	check(t, code == "ResourceNotFoundException" && status == 404, "%s %d", code, status)
}

func TestListLoggingConfigurations(t *testing.T) {
	c := client(t)
	mine := map[string]bool{}
	for i := 0; i < 3; i++ {
		mine[aws.ToString(newLogging(t, c, unique("list"), nil).Id)] = false
	}
	p := ivschat.NewListLoggingConfigurationsPaginator(c, &ivschat.ListLoggingConfigurationsInput{MaxResults: aws.Int32(1)})
	seen := map[string]int{}
	for p.HasMorePages() {
		page := must(p.NextPage(ctx))(t)
		check(t, len(page.LoggingConfigurations) <= 1, "page of %d", len(page.LoggingConfigurations))
		for _, s := range page.LoggingConfigurations {
			seen[aws.ToString(s.Id)]++
			check(t, s.State == types.LoggingConfigurationStateActive && s.CreateTime != nil, "%+v", s)
		}
	}
	for id := range mine {
		check(t, seen[id] == 1, "%s seen %d times", id, seen[id])
	}
}

// ----------------------------------------------------------------------------- tags

func TestTagResource(t *testing.T) {
	c := client(t)
	room := newRoom(t, c, &ivschat.CreateRoomInput{Tags: map[string]string{"a": "1"}})
	cfg := newLogging(t, c, unique("tags"), nil)
	for _, arn := range []*string{room.Arn, cfg.Arn} {
		_ = must(c.TagResource(ctx, &ivschat.TagResourceInput{ResourceArn: arn, Tags: map[string]string{"a": "2", "b": "x/y =+-.:_@"}}))(t)
		tags := must(c.ListTagsForResource(ctx, &ivschat.ListTagsForResourceInput{ResourceArn: arn}))(t).Tags
		check(t, tags["a"] == "2" && tags["b"] == "x/y =+-.:_@", "tags %v", tags)
	}
	_, err := c.TagResource(ctx, &ivschat.TagResourceInput{ResourceArn: aws.String(unknownRoomARN()), Tags: map[string]string{"a": "b"}})
	code, status := apiError(t, err)
	check(t, code == "ResourceNotFoundException" && status == 404, "%s %d", code, status)
	many := map[string]string{}
	for i := 0; i < 51; i++ {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	_, err = c.TagResource(ctx, &ivschat.TagResourceInput{ResourceArn: room.Arn, Tags: many})
	code, status = apiError(t, err)
	check(t, code == "ValidationException" && status == 400, "%s %d", code, status)
}

func TestUntagResource(t *testing.T) {
	c := client(t)
	room := newRoom(t, c, &ivschat.CreateRoomInput{Tags: map[string]string{"a": "1", "b": "2", "c": "3"}})
	_ = must(c.UntagResource(ctx, &ivschat.UntagResourceInput{ResourceArn: room.Arn, TagKeys: []string{"a", "c", "absent"}}))(t)
	tags := must(c.ListTagsForResource(ctx, &ivschat.ListTagsForResourceInput{ResourceArn: room.Arn}))(t).Tags
	check(t, len(tags) == 1 && tags["b"] == "2", "tags %v", tags)
}

func TestListTagsForResource(t *testing.T) {
	c := client(t)
	room := newRoom(t, c, nil)
	tags := must(c.ListTagsForResource(ctx, &ivschat.ListTagsForResourceInput{ResourceArn: room.Arn}))(t).Tags
	check(t, tags != nil && len(tags) == 0, "tags %v", tags)
	cfg := newLogging(t, c, unique("lt"), nil)
	_ = must(c.TagResource(ctx, &ivschat.TagResourceInput{ResourceArn: cfg.Arn, Tags: map[string]string{"x": "y"}}))(t)
	tags = must(c.ListTagsForResource(ctx, &ivschat.ListTagsForResourceInput{ResourceArn: cfg.Arn}))(t).Tags
	check(t, len(tags) == 1 && tags["x"] == "y", "tags %v", tags)
}

// ----------------------------------------------------------------------------- messaging

func TestCreateChatToken(t *testing.T) {
	c := client(t)
	room := newRoom(t, c, nil)
	before := time.Now()
	tok := must(c.CreateChatToken(ctx, &ivschat.CreateChatTokenInput{RoomIdentifier: room.Arn, UserId: aws.String("user-1")}))(t)
	check(t, tokenRE.MatchString(aws.ToString(tok.Token)), "token %q", aws.ToString(tok.Token))
	near(t, tok.TokenExpirationTime, before.Add(60*time.Second), "tokenExpirationTime")
	near(t, tok.SessionExpirationTime, before.Add(60*time.Minute), "sessionExpirationTime")
	full := must(c.CreateChatToken(ctx, &ivschat.CreateChatTokenInput{
		RoomIdentifier: room.Arn, UserId: aws.String("ünïcode user ✓"),
		Capabilities:             []types.ChatTokenCapability{types.ChatTokenCapabilitySendMessage, types.ChatTokenCapabilityDisconnectUser, types.ChatTokenCapabilityDeleteMessage},
		SessionDurationInMinutes: aws.Int32(180), Attributes: map[string]string{"displayName": "Go"},
	}))(t)
	near(t, full.SessionExpirationTime, before.Add(180*time.Minute), "sessionExpirationTime (180)")
	check(t, aws.ToString(full.Token) != aws.ToString(tok.Token), "same token twice")
	_, err := c.CreateChatToken(ctx, &ivschat.CreateChatTokenInput{RoomIdentifier: room.Arn, UserId: aws.String("u"), SessionDurationInMinutes: aws.Int32(181)})
	validation(t, err, "sessionDurationInMinutes")
	_, err = c.CreateChatToken(ctx, &ivschat.CreateChatTokenInput{RoomIdentifier: aws.String(unknownRoomARN()), UserId: aws.String("u")})
	notFound(t, err, "ZZZZZZZZZZZZ")
}

func TestSendEvent(t *testing.T) {
	c := client(t)
	room := newRoom(t, c, nil)
	sent := must(c.SendEvent(ctx, &ivschat.SendEventInput{RoomIdentifier: room.Arn, EventName: aws.String("app:poll"), Attributes: map[string]string{"q": "?"}}))(t)
	check(t, idRE.MatchString(aws.ToString(sent.Id)), "id %q", aws.ToString(sent.Id))
	again := must(c.SendEvent(ctx, &ivschat.SendEventInput{RoomIdentifier: room.Arn, EventName: aws.String("e")}))(t)
	check(t, aws.ToString(again.Id) != aws.ToString(sent.Id), "same id twice")
}

func TestDeleteMessage(t *testing.T) {
	c := client(t)
	room := newRoom(t, c, nil)
	sent := must(c.SendEvent(ctx, &ivschat.SendEventInput{RoomIdentifier: room.Arn, EventName: aws.String("x")}))(t)
	del := must(c.DeleteMessage(ctx, &ivschat.DeleteMessageInput{RoomIdentifier: room.Arn, Id: sent.Id, Reason: aws.String("spam")}))(t)
	check(t, idRE.MatchString(aws.ToString(del.Id)) && aws.ToString(del.Id) != aws.ToString(sent.Id), "id %q", aws.ToString(del.Id))
	_, err := c.DeleteMessage(ctx, &ivschat.DeleteMessageInput{RoomIdentifier: room.Arn, Id: aws.String("short")})
	validation(t, err, "id")
}

func TestDisconnectUser(t *testing.T) {
	c := client(t)
	room := newRoom(t, c, nil)
	out := must(c.DisconnectUser(ctx, &ivschat.DisconnectUserInput{RoomIdentifier: room.Arn, UserId: aws.String("nobody"), Reason: aws.String("bye")}))(t)
	check(t, out != nil, "no output")
	_, err := c.DisconnectUser(ctx, &ivschat.DisconnectUserInput{RoomIdentifier: aws.String(unknownRoomARN()), UserId: aws.String("u")})
	notFound(t, err, "ZZZZZZZZZZZZ")
}

// ----------------------------------------------------------------------------- errors

func TestValidationException(t *testing.T) {
	c := client(t)
	_, err := c.CreateRoom(ctx, &ivschat.CreateRoomInput{MaximumMessageLength: aws.Int32(0)})
	validation(t, err, "maximumMessageLength")
	_, err = c.CreateRoom(ctx, &ivschat.CreateRoomInput{MessageReviewHandler: &types.MessageReviewHandler{Uri: aws.String("not-a-lambda")}})
	validation(t, err, "messageReviewHandler/uri")
	// Every bad member is listed.
	_, err = c.CreateRoom(ctx, &ivschat.CreateRoomInput{MaximumMessageLength: aws.Int32(0), MaximumMessageRatePerSecond: aws.Int32(0)})
	validation(t, err, "maximumMessageLength")
	validation(t, err, "maximumMessageRatePerSecond")
}

func TestResourceNotFoundException(t *testing.T) {
	c := client(t)
	arn := aws.String(unknownRoomARN())
	_, err := c.GetRoom(ctx, &ivschat.GetRoomInput{Identifier: arn})
	notFound(t, err, "ZZZZZZZZZZZZ")
	_, err = c.UpdateRoom(ctx, &ivschat.UpdateRoomInput{Identifier: arn, MaximumMessageLength: aws.Int32(5)})
	notFound(t, err, "ZZZZZZZZZZZZ")
	_, err = c.SendEvent(ctx, &ivschat.SendEventInput{RoomIdentifier: arn, EventName: aws.String("e")})
	notFound(t, err, "ZZZZZZZZZZZZ")
}

func TestConflictException(t *testing.T) {
	c := client(t)
	cfg := newLogging(t, c, unique("conflict"), nil)
	room := newRoom(t, c, &ivschat.CreateRoomInput{LoggingConfigurationIdentifiers: []string{aws.ToString(cfg.Arn)}})
	_, err := c.DeleteLoggingConfiguration(ctx, &ivschat.DeleteLoggingConfigurationInput{Identifier: cfg.Arn})
	var ce *types.ConflictException
	check(t, errors.As(err, &ce), "want ConflictException, got %v", err)
	_, status := apiError(t, err)
	check(t, status == 409, "status %d", status)
	// Detached, it can be deleted.
	_ = must(c.UpdateRoom(ctx, &ivschat.UpdateRoomInput{Identifier: room.Arn, LoggingConfigurationIdentifiers: []string{}}))(t)
	_, err = c.DeleteLoggingConfiguration(ctx, &ivschat.DeleteLoggingConfigurationInput{Identifier: cfg.Arn})
	check(t, err == nil, "delete after detach: %v", err)
}

// On the second server, whose logging configurations only this suite makes.
func TestServiceQuotaExceededException(t *testing.T) {
	c := clientWith(t, "IVSCHAT_SLOW_ENDPOINT", "test", "test")
	existing := must(c.ListLoggingConfigurations(ctx, &ivschat.ListLoggingConfigurationsInput{MaxResults: aws.Int32(50)}))(t)
	for i := len(existing.LoggingConfigurations); i < quota; i++ {
		newLogging(t, c, unique("quota"), nil)
	}
	_, err := c.CreateLoggingConfiguration(ctx, &ivschat.CreateLoggingConfigurationInput{DestinationConfiguration: destinations()["s3"]})
	var qe *types.ServiceQuotaExceededException
	check(t, errors.As(err, &qe), "want ServiceQuotaExceededException, got %v", err)
	check(t, qe.Limit == quota, "limit %v", qe.Limit)
	_, status := apiError(t, err)
	check(t, status == 402, "status %d", status)
}

func TestThrottlingException(t *testing.T) {
	c := clientWith(t, "IVSCHAT_SLOW_ENDPOINT", "test", "test")
	room := newRoom(t, c, nil)
	var err error
	for i := 0; i < 5 && err == nil; i++ {
		_, err = c.SendEvent(ctx, &ivschat.SendEventInput{RoomIdentifier: room.Arn, EventName: aws.String("burst")})
	}
	var te *types.ThrottlingException
	check(t, errors.As(err, &te), "want ThrottlingException, got %v", err)
	check(t, te.Limit == 1 && te.ResourceType == types.ResourceTypeRoom, "%+v", te)
	_, status := apiError(t, err)
	check(t, status == 429, "status %d", status)
}

func TestAuthErrors(t *testing.T) {
	_, err := clientWith(t, "IVSCHAT_ENDPOINT", "test", "not-the-secret").ListRooms(ctx, &ivschat.ListRoomsInput{})
	code, status := apiError(t, err)
	check(t, code == "InvalidSignatureException" && status == 403, "%s %d", code, status)
	_, err = clientWith(t, "IVSCHAT_ENDPOINT", "test", "not-the-secret").ListTagsForResource(ctx, &ivschat.ListTagsForResourceInput{ResourceArn: aws.String(unknownRoomARN())})
	code, status = apiError(t, err)
	check(t, code == "InvalidSignatureException" && status == 403, "tags path: %s %d", code, status)
	_, err = clientWith(t, "IVSCHAT_ENDPOINT", "AKIDNOTKNOWN0000", "whatever").CreateRoom(ctx, &ivschat.CreateRoomInput{})
	code, status = apiError(t, err)
	check(t, code == "UnrecognizedClientException" && status == 403, "%s %d", code, status)
}
