# Mail::DKIM as a contender of the cross-peer benchmark (run.py).
#
#   perl -I STATE/perl5 maildkim_worker.pl KEYDIR    (STATE: tests/interop/setup.sh)
#
# Speaks the workers' line protocol on stdin/stdout (README.md). Keys come
# from KEYDIR (rsa.pem, ed.pem, records.json); records reach Mail::DKIM
# through RecordResolver (tests/interop/drivers), no DNS is used.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../tests/interop/drivers";
use RecordResolver;    # key records from a hash, as the interop tests give them
use JSON::PP;
use Net::DNS;
use Time::HiRes qw(time);
use Mail::DKIM;
use Mail::DKIM::Verifier;
use Mail::DKIM::Signer;
use Mail::DKIM::Signature;
use Mail::DKIM::PrivateKey;
use Crypt::OpenSSL::RSA;

$| = 1;
binmode STDOUT;

*slurp = \&RecordResolver::slurp;

my $dir = shift @ARGV or die "usage: maildkim_worker.pl KEYDIR\n";
Mail::DKIM::DNS::resolver( RecordResolver->new( JSON::PP->new->decode( slurp("$dir/records.json") ) ) );
my %keys = (
    rsa => Mail::DKIM::PrivateKey->load( Cork => Crypt::OpenSSL::RSA->new_private_key( slurp("$dir/rsa.pem") ) ),
    ed  => Mail::DKIM::PrivateKey->load( File => "$dir/ed.pem", Type => 'ed25519' ),
);
my %algs = ( rsa => 'rsa-sha256', ed => 'ed25519-sha256' );
my %files;
sub load { my ($p) = @_; $files{$p} //= slurp($p); return $files{$p}; }

# `dual`: one signer with both signatures (one pass), the RSA one first
sub sign_one {
    my ( $alg, $msg ) = @_;
    my @algs = $alg eq 'dual' ? qw(rsa ed) : ($alg);
    for (@algs) { $keys{$_} or die "unknown algorithm $_\n"; }
    my $policy = sub {
        my $signer = shift;
        for my $a (@algs) {
            $signer->add_signature(
                Mail::DKIM::Signature->new(
                    Algorithm => $algs{$a},
                    Method    => 'relaxed/relaxed',
                    Headers   => 'From:To:Subject:Date:Message-ID',
                    Domain    => 'example.com',
                    Selector  => $a,
                    Key       => $keys{$a},
                )
            );
        }
        return;
    };
    my $signer = Mail::DKIM::Signer->new( Policy => $policy, Key => $keys{ $algs[0] } );
    $signer->PRINT($msg);
    $signer->CLOSE;
    my @sigs = $signer->signatures;
    die "no signature made\n" unless @sigs == @algs;
    return join '', map { $_->as_string . "\015\012" } @sigs;
}

sub verify_one {
    my ($msg) = @_;
    my $v = Mail::DKIM::Verifier->new;
    $v->PRINT($msg);
    $v->CLOSE;
    my @sigs = grep { !$_->isa('Mail::DKIM::DkSignature') } $v->signatures;
    die "no signature\n" unless @sigs;
    for my $sig (@sigs) {
        my $r = $sig->result // 'none';
        die "signature: $r " . ( $sig->result_detail // '' ) . "\n" unless $r eq 'pass';
    }
    return;
}

while ( my $line = <STDIN> ) {
    my @w = split ' ', $line;
    last if @w == 1 && $w[0] eq 'quit';
    my $reply = eval {
        if ( @w == 4 && $w[0] eq 'sign' ) {
            my ( $msg, $n ) = ( load( $w[2] ), $w[3] );
            my $start = time;
            sign_one( $w[1], $msg ) for 1 .. $n;
            sprintf '%.9f', time - $start;
        }
        elsif ( @w == 4 && $w[0] eq 'signout' ) {
            my $msg = load( $w[2] );
            open my $fh, '>:raw', $w[3] or die "cannot write $w[3]: $!\n";
            print {$fh} sign_one( $w[1], $msg ), $msg;
            close $fh;
            '0';
        }
        elsif ( @w == 3 && $w[0] eq 'verify' ) {
            my ( $msg, $n ) = ( load( $w[1] ), $w[2] );
            my $start = time;
            verify_one($msg) for 1 .. $n;
            sprintf '%.9f', time - $start;
        }
        else { die "unknown command: $line"; }
    };
    if ( defined $reply ) { print "ok $reply\n"; }
    else { my $e = $@ || 'unknown error'; $e =~ s/\s+/ /g; print "err $e\n"; }
}
