// SigV4 for the OpenAPI Generator `cpp-qt-client` of ivschat, as a user of that client must
// provide it: the generated OAIDefaultApi does not sign (its `hmac` security scheme is an API
// key, and setApiKey("hmac", …) even sends it as a header named "hmac", not "Authorization").
//
// SigningNetworkAccessManager is handed to the generated API with
// OAIDefaultApi::setNetworkAccessManager(); it signs each request in createRequest(), i.e. over
// exactly the method, path, query and body that go on the wire, and sets Authorization and
// X-Amz-Date on it. Signing uses only Qt: QCryptographicHash and QMessageAuthenticationCode.
#pragma once

#include <QByteArray>
#include <QDateTime>
#include <QList>
#include <QNetworkAccessManager>
#include <QNetworkRequest>
#include <QString>
#include <QUrl>

namespace sigv4 {

struct Credentials {
    QByteArray accessKeyId = "test";
    QByteArray secretAccessKey = "test";
    QByteArray region = "us-east-1";
    QByteArray service = "ivschat";
};

/// The canonical URI of an already percent-encoded path: each segment URI-encoded again
/// (every character but A-Z a-z 0-9 - . _ ~), as AWS SDKs do for services other than S3.
QByteArray canonicalUri(const QByteArray &encodedPath);
/// The canonical query string: decoded names and values re-encoded, sorted by name then value.
QByteArray canonicalQuery(const QByteArray &encodedQuery);

/// Signs `request` (sets X-Amz-Date and Authorization; signed headers: host;x-amz-date).
void sign(QNetworkRequest &request, const QByteArray &method, const QByteArray &body,
          const Credentials &credentials, const QDateTime &now = QDateTime::currentDateTimeUtc());

/// What a request looked like when it left the client (for assertions).
struct Sent {
    QByteArray method;
    QByteArray pathAndQuery;  // as on the request line
    QString fragment;         // never sent; recorded to show where the client put things
    QByteArray body;
};

class SigningNetworkAccessManager : public QNetworkAccessManager {
    Q_OBJECT
public:
    explicit SigningNetworkAccessManager(Credentials credentials, QObject *parent = nullptr)
        : QNetworkAccessManager(parent), m_credentials(std::move(credentials)) {}

    /// Off by default. On: a request whose URL fragment is `tagKeys?…` (the UntagResource path
    /// `/tags/{resourceArn}#tagKeys` of the OpenAPI description, with the query appended after
    /// the fragment by the generated code) gets that text as its query and no fragment, so the
    /// tag keys reach the server. The user-side work-around for that description quirk.
    bool moveTagKeysFragmentToQuery = false;
    /// Off: requests go out unsigned (to check the server's MissingAuthenticationToken answer).
    bool signRequests = true;

    QList<Sent> sent;

protected:
    QNetworkReply *createRequest(Operation op, const QNetworkRequest &request,
                                 QIODevice *outgoingData = nullptr) override;

private:
    Credentials m_credentials;
};

}  // namespace sigv4
