#include "sigv4.h"

#include <QBuffer>
#include <QCryptographicHash>
#include <QMessageAuthenticationCode>
#include <QPair>
#include <algorithm>

namespace sigv4 {

namespace {

QByteArray sha256Hex(const QByteArray &data) {
    return QCryptographicHash::hash(data, QCryptographicHash::Sha256).toHex();
}

QByteArray hmac(const QByteArray &key, const QByteArray &message) {
    return QMessageAuthenticationCode::hash(message, key, QCryptographicHash::Sha256);
}

QByteArray methodOf(QNetworkAccessManager::Operation op, const QNetworkRequest &request) {
    switch (op) {
    case QNetworkAccessManager::HeadOperation: return "HEAD";
    case QNetworkAccessManager::GetOperation: return "GET";
    case QNetworkAccessManager::PutOperation: return "PUT";
    case QNetworkAccessManager::PostOperation: return "POST";
    case QNetworkAccessManager::DeleteOperation: return "DELETE";
    default: return request.attribute(QNetworkRequest::CustomVerbAttribute).toByteArray();
    }
}

}  // namespace

QByteArray canonicalUri(const QByteArray &encodedPath) {
    if (encodedPath.isEmpty()) return "/";
    QList<QByteArray> segments = encodedPath.split('/');
    for (QByteArray &segment : segments) segment = QUrl::toPercentEncoding(QString::fromLatin1(segment));
    return segments.join('/');
}

QByteArray canonicalQuery(const QByteArray &encodedQuery) {
    if (encodedQuery.isEmpty()) return {};
    QList<QPair<QByteArray, QByteArray>> params;
    for (const QByteArray &pair : encodedQuery.split('&')) {
        const int eq = pair.indexOf('=');
        const QByteArray name = eq < 0 ? pair : pair.left(eq);
        const QByteArray value = eq < 0 ? QByteArray() : pair.mid(eq + 1);
        params.append({QUrl::toPercentEncoding(QUrl::fromPercentEncoding(name)),
                       QUrl::toPercentEncoding(QUrl::fromPercentEncoding(value))});
    }
    std::sort(params.begin(), params.end());
    QList<QByteArray> parts;
    for (const auto &p : params) parts.append(p.first + '=' + p.second);
    return parts.join('&');
}

void sign(QNetworkRequest &request, const QByteArray &method, const QByteArray &body,
          const Credentials &c, const QDateTime &now) {
    const QUrl url = request.url();
    const QByteArray amzDate = now.toUTC().toString("yyyyMMdd'T'HHmmss'Z'").toLatin1();
    const QByteArray date = amzDate.left(8);
    QByteArray host = url.host(QUrl::FullyEncoded).toLatin1();
    const int defaultPort = url.scheme() == "https" ? 443 : 80;
    if (url.port() != -1 && url.port() != defaultPort) host += ':' + QByteArray::number(url.port());

    const QByteArray signedHeaders = "host;x-amz-date";
    const QByteArray canonicalRequest = method + '\n' +
                                        canonicalUri(url.path(QUrl::FullyEncoded).toLatin1()) + '\n' +
                                        canonicalQuery(url.query(QUrl::FullyEncoded).toLatin1()) + '\n' +
                                        "host:" + host + '\n' + "x-amz-date:" + amzDate + '\n' + '\n' +
                                        signedHeaders + '\n' + sha256Hex(body);
    const QByteArray scope = date + '/' + c.region + '/' + c.service + "/aws4_request";
    const QByteArray stringToSign =
        "AWS4-HMAC-SHA256\n" + amzDate + '\n' + scope + '\n' + sha256Hex(canonicalRequest);
    QByteArray key = hmac("AWS4" + c.secretAccessKey, date);
    key = hmac(key, c.region);
    key = hmac(key, c.service);
    key = hmac(key, "aws4_request");
    const QByteArray signature = hmac(key, stringToSign).toHex();

    request.setRawHeader("X-Amz-Date", amzDate);
    request.setRawHeader("Authorization", "AWS4-HMAC-SHA256 Credential=" + c.accessKeyId + '/' + scope +
                                              ", SignedHeaders=" + signedHeaders + ", Signature=" + signature);
}

QNetworkReply *SigningNetworkAccessManager::createRequest(Operation op, const QNetworkRequest &original,
                                                          QIODevice *outgoingData) {
    QNetworkRequest request(original);
    QUrl url = request.url();
    const QString fragment = url.fragment(QUrl::FullyEncoded);
    if (moveTagKeysFragmentToQuery && fragment.startsWith("tagKeys?") && !url.hasQuery()) {
        url.setQuery(fragment.mid(int(qstrlen("tagKeys?"))), QUrl::TolerantMode);
        url.setFragment(QString());
        request.setUrl(url);
    }
    QByteArray body;
    if (auto *buffer = qobject_cast<QBuffer *>(outgoingData)) {
        body = buffer->data();
    } else if (outgoingData) {
        body = outgoingData->peek(outgoingData->bytesAvailable());
    }
    const QByteArray method = methodOf(op, request);
    if (signRequests) sign(request, method, body, m_credentials);
    sent.append({method,
                 request.url().toEncoded(QUrl::RemoveScheme | QUrl::RemoveAuthority | QUrl::RemoveFragment),
                 request.url().fragment(), body});
    return QNetworkAccessManager::createRequest(op, request, outgoingData);
}

}  // namespace sigv4
